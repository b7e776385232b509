// The Experiments view's socket: sends `sweep` / `sweep_cancel` and turns the server's sweep_* messages
// into one state object per sweep. Only the newest sweep is followed: a message of an older sweep_id
// is ignored (a new `sweep` cancels the one before on the server). A refused config (`sweep_error` with
// a new id) leaves the running sweep alone, as the server does. Its own socket, opened on first use.
import { Emitter } from './emitter.js';
import { SocketClient } from './socket.js';

const PING_MS = 60000;

/** A sweep as the page sees it. status: queued | running | done | cancelled | error | lost. */
function newState(message) {
  return {
    id: message.sweep_id, experiment: message.experiment, config: message.config, models: message.models,
    status: message.queued ? 'queued' : 'running', done: 0, total: message.models, theory: [], points: [],
    result: null, message: null,
    predicted: message.predicted || null, // the server's prediction: {memory_mb, seconds, model_steps, driver}
  };
}

export class SweepClient extends Emitter {
  constructor(url) {
    super();
    this.socket = new SocketClient(url);
    this.active = null;    // the state of the newest started sweep
    this.pending = null;   // a sweep asked for while the socket was not open
    this.socket.on('open', () => this.flush());
    this.socket.on('message', message => this.receive(message));
    this.socket.on('lost', info => this.lost(`the connection was lost${info.reason ? ` (${info.reason})` : ''}`));
    this.socket.on('refused', info => this.lost(`the server refused the connection: ${info.reason}`));
    this.pinger = setInterval(() => {
      if (document.visibilityState === 'visible') this.socket.send({ type: 'ping' });
    }, PING_MS);
  }

  /** Ask for a sweep of `config` ({experiment, ...knobs}); the answer is a 'started' or a 'refused'. */
  run(config) {
    this.pending = config;
    if (this.socket.open) this.flush();
    else if (this.socket.state === 'refused' || this.socket.state === 'closed') this.socket.reconnect();
    else if (this.socket.state === 'idle') this.socket.connect();
  }

  cancel() {
    this.pending = null;
    if (this.active && ['queued', 'running'].includes(this.active.status)) this.socket.send({ type: 'sweep_cancel' });
  }

  get running() {
    return Boolean(this.active && ['queued', 'running'].includes(this.active.status));
  }

  flush() {
    if (this.pending && this.socket.send({ type: 'sweep', config: this.pending })) this.pending = null;
  }

  /** The socket went away: a sweep lives in its session, so it ended too (ids start again at 1). */
  lost(reason) {
    const state = this.active;
    this.active = null;
    if (state && ['queued', 'running'].includes(state.status)) {
      state.status = 'lost';
      state.message = `The sweep stopped: ${reason}. Run it again.`;
      this.emit('update', state);
    }
    if (this.pending) this.emit('refused', `Not started: ${reason}.`, this.pending.experiment);
    this.pending = null;
  }

  receive(message) {
    const id = message.sweep_id;
    const current = this.active ? this.active.id : 0;
    if (message.type === 'error') { // a bad message; a cancel that came after the end is no news
      if (!/^sweep_cancel:/.test(message.message || '')) this.emit('refused', message.message, null);
      return;
    }
    if (message.type === 'sweep_started' && id > current) {
      if (this.running) { this.active.status = 'cancelled'; this.emit('update', this.active); }
      this.active = newState(message);
      this.emit('update', this.active);
      return;
    }
    if (message.type === 'sweep_error' && id > current) { this.emit('refused', message.message, null); return; }
    if (!this.active || id !== current) return; // an older sweep's last words
    const state = this.active;
    switch (message.type) {
      case 'sweep_theory': state.theory = message.theory_curves || []; break;
      case 'sweep_progress':
        state.status = 'running';
        if (!(message.done === 0 && message.total === 1)) Object.assign(state, { done: message.done, total: message.total });
        break;
      case 'sweep_point': state.points = [...state.points, message.point]; break;
      case 'sweep_done':
        Object.assign(state, { status: 'done', result: message.result, done: state.total });
        state.points = message.result.points || state.points;
        state.theory = message.result.theory_curves || state.theory;
        break;
      case 'sweep_cancelled': state.status = 'cancelled'; break;
      case 'sweep_error': Object.assign(state, { status: 'error', message: message.message }); break;
      default: return;
    }
    this.emit('update', state);
  }
}
