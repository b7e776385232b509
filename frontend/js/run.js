// One training run on the server: its socket, its accepted config, the latest frame (arrays merged:
// a key absent from a frame means "unchanged") and the history the page accumulates.
import { Emitter } from './emitter.js';
import { History } from './history.js';
import { SocketClient } from './socket.js';

const HISTOGRAM_POINTS = 6000; // 1-D data points kept for the density panel's histogram
const PING_MS = 60000;         // keeps a visible page's session from idling out (hidden pages let it go)

export class Run extends Emitter {
  /** compact(config): what `start` sends (the knobs that differ from the defaults, so the server's own
   *  defaults, such as its device, apply to the rest). */
  constructor({ id, label, color, url, compact = config => config }) {
    super();
    Object.assign(this, { id, label, color, compact });
    this.socket = new SocketClient(url);
    this.history = new History();
    this.desired = null;      // the config to (re)start with: accepted config + changes not yet confirmed
    this.config = null;       // the config the server last accepted
    this.configRev = null;
    this.wantRunning = false;
    this.awaitingStart = false;
    this.pending = null;      // changes made while a start was unanswered
    this.status = { state: 'connecting', message: null };
    this.versions = { frame: 0, arrays: 0, grad: 0 };
    this.clearView();
    this.socket.on('open', () => this.sendStart());
    this.socket.on('message', message => this.receive(message));
    this.socket.on('state', state => this.emit('connection', state));
    this.socket.on('lost', info => this.emit('lost', info));
    this.socket.on('refused', info => this.emit('refused', info));
    this.pinger = setInterval(() => {
      if (document.visibilityState === 'visible') this.socket.send({ type: 'ping' });
    }, PING_MS);
  }

  clearView() {
    this.bump(true, true);
    this.history.clear();
    this.frame = null;
    this.grid = {};
    this.points = null;
    this.grad = null;
    this.dataXs = [];
    this.minRev = this.configRev ?? 0;
  }

  /** (Re)start the run from `config` on a fresh trainer; held at step 0 unless running. */
  open(config, { running = false } = {}) {
    this.desired = { ...config };
    this.wantRunning = running;
    if (this.socket.open) this.sendStart();
    else if (this.socket.state !== 'connecting') this.socket.connect();
  }

  sendStart() {
    if (!this.desired) return;
    this.awaitingStart = true;
    this.socket.send({ type: 'start', config: this.compact(this.desired), paused: !this.wantRunning });
  }

  /** A live change; the server answers with `config` (rebuilt or not) or `error`. While a start is
   *  unanswered the change waits, and goes out as soon as the start is accepted. */
  set(patch) {
    this.desired = { ...this.desired, ...patch };
    if (this.awaitingStart) this.pending = { ...this.pending, ...patch };
    else this.socket.send({ type: 'set', config: patch });
  }

  play() {
    this.wantRunning = true;
    if (this.status.state === 'done' || this.status.state === 'diverged') this.socket.send({ type: 'reset' });
    this.socket.send({ type: 'resume' });
  }

  pause() {
    this.wantRunning = false;
    this.socket.send({ type: 'pause' });
  }

  step(n) {
    this.wantRunning = false;
    this.socket.send({ type: 'step', n });
  }

  reset() {
    this.wantRunning = false;
    this.socket.send({ type: 'reset' });
  }

  close() {
    clearInterval(this.pinger);
    this.socket.close();
  }

  receive(message) {
    switch (message.type) {
      case 'config': return this.onConfig(message);
      case 'frame': return this.onFrame(message);
      case 'status':
        this.status = { state: message.state, message: message.message ?? null, step: message.step ?? null };
        if (!['running'].includes(message.state)) this.wantRunning = false;
        return this.emit('status', this.status);
      case 'error':
        if (this.awaitingStart) return this.emit('start-rejected', message.message);
        this.desired = { ...this.config };
        return this.emit('error', message.message);
      default:
        return undefined;
    }
  }

  onConfig(message) {
    const started = this.awaitingStart;
    const pending = started ? this.pending : null;
    this.awaitingStart = false;
    this.pending = null;
    this.config = message.config;
    this.desired = { ...message.config, ...pending }; // what the run will be once the waiting changes are in
    this.configRev = message.config_rev;
    if (started || message.rebuilt) this.clearView();
    this.emit('config', message, { started });
    if (pending) this.set(pending);
  }

  onFrame(frame) {
    if (frame.config_rev !== undefined && frame.config_rev < this.minRev) return; // from before a rebuild
    if (this.frame && frame.step < this.frame.step) this.dataXs = [];
    this.frame = frame;
    if (frame.grid) Object.assign(this.grid, frame.grid);
    if (frame.points) this.points = frame.points;
    if (frame.grad) this.grad = frame.grad;
    this.bump(Boolean(frame.grid || frame.points), Boolean(frame.grad));
    if (frame.dim === 1 && frame.points && frame.points.data) {
      this.dataXs.push(...frame.points.data[0]);
      if (this.dataXs.length > HISTOGRAM_POINTS) this.dataXs.splice(0, this.dataXs.length - HISTOGRAM_POINTS);
    }
    this.history.add(frame);
    this.emit('frame', frame);
  }

  /** Version counters, so a panel redraws only when what it shows has changed. */
  bump(arrays, grad) {
    this.versions.frame += 1;
    if (arrays) this.versions.arrays += 1;
    if (grad) this.versions.grad += 1;
  }

  get method() {
    return (this.config || this.desired || {}).method;
  }
}
