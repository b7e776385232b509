// One WebSocket with automatic reconnect (exponential backoff with jitter). Refusals the server
// explains with a close code are reported in words; a bad token is not retried.
import { Emitter } from './emitter.js';

export const CLOSE_MEANING = {
  1013: 'the server is busy (too many sessions)',
  4401: 'access refused: the link needs a valid token',
  4408: 'this session reached its limits',
  4429: 'too many wrong tokens from this address: check the link, then reload',
};
const NO_RETRY = new Set([4401, 4408, 4429]);
const BASE_DELAY_MS = 500;
const MAX_DELAY_MS = 10000;

export class SocketClient extends Emitter {
  constructor(url) {
    super();
    this.url = url;
    this.ws = null;
    this.attempts = 0;
    this.timer = null;
    this.stopped = false;
    this.state = 'idle';
  }

  connect() {
    clearTimeout(this.timer);
    this.stopped = false;
    this.setState('connecting');
    const ws = new WebSocket(this.url);
    this.ws = ws;
    ws.onopen = () => {
      this.attempts = 0;
      this.setState('open');
      this.emit('open');
    };
    ws.onmessage = event => {
      let message;
      try { message = JSON.parse(event.data); } catch {
        this.emit('message', { type: 'error', message: 'the server sent a message that is not JSON' });
        return;
      }
      this.emit('message', message);
    };
    ws.onclose = event => this.closed(ws, event);
  }

  closed(ws, event) {
    if (ws !== this.ws) return;
    this.ws = null;
    if (this.stopped) { this.setState('closed'); return; }
    const meaning = CLOSE_MEANING[event.code];
    const reason = [meaning, event.reason].filter(Boolean).join(': ');
    if (NO_RETRY.has(event.code)) {
      this.setState('refused');
      this.emit('refused', { code: event.code, reason: reason || `closed with code ${event.code}` });
      return;
    }
    const busy = event.code === 1013 ? 4 : 1;
    const delay = Math.min(MAX_DELAY_MS, BASE_DELAY_MS * busy * 2 ** this.attempts) * (0.8 + 0.4 * Math.random());
    this.attempts += 1;
    this.setState('reconnecting');
    this.emit('lost', { code: event.code, reason, retryInMs: delay, attempt: this.attempts });
    this.timer = setTimeout(() => this.connect(), delay);
  }

  /** Sends a message object; false when not connected (the caller keeps its state and re-sends on open). */
  send(message) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify(message));
    return true;
  }

  get open() {
    return Boolean(this.ws && this.ws.readyState === WebSocket.OPEN);
  }

  /** Try again now (after a refusal, or to skip the backoff wait). */
  reconnect() {
    if (this.ws) { this.ws.onclose = null; this.ws.close(); this.ws = null; }
    this.attempts = 0;
    this.connect();
  }

  close() {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.ws) this.ws.close(1000, 'page closed the run');
  }

  setState(state) {
    this.state = state;
    this.emit('state', state);
  }
}
