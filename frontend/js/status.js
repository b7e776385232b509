// The status strip: step / total with a progress bar, steps/s, device, connection and config revision.
// Text nodes are updated only when their value changes (no DOM rebuilding per frame).

const $ = id => document.getElementById(id);

function setText(node, text) {
  if (node && node.textContent !== text) node.textContent = text;
}

const CONNECTION_WORDS = {
  idle: 'offline', connecting: 'connecting…', open: 'connected', reconnecting: 'reconnecting…',
  refused: 'refused', closed: 'closed',
};

export class StatusBar {
  constructor() {
    this.nodes = {
      step: $('step-count'), total: $('total-steps'), state: $('run-state'), rate: $('steps-per-s'),
      device: $('device'), connection: $('connection'), rev: $('config-rev'), fill: $('progress-fill'),
      progress: $('progress'), play: $('play'), pause: $('pause'),
    };
  }

  frame(frame) {
    const n = this.nodes;
    setText(n.step, String(frame.step));
    const total = frame.total_steps ?? null;
    if (total !== null) setText(n.total, String(total));
    const percent = total ? Math.min(100, (100 * frame.step) / total) : 0;
    n.fill.style.width = `${percent.toFixed(1)}%`;
    n.progress.setAttribute('aria-valuenow', percent.toFixed(0));
    // null after a reset or a rebuild (no steps measured yet): the old speed is not shown as current
    setText(n.rate, frame.steps_per_s === null || frame.steps_per_s === undefined ? '–' : String(Math.round(frame.steps_per_s)));
    if (frame.device) this.device(frame.device);
  }

  step(step) {
    setText(this.nodes.step, String(step));
  }

  device(name) {
    const kind = String(name).toLowerCase();
    setText(this.nodes.device, kind === 'cpu' ? 'CPU' : `GPU (${kind.toUpperCase()})`);
  }

  state(state) {
    const node = this.nodes.state;
    setText(node, state);
    node.className = `pill ${state}`;
    const running = state === 'running';
    this.nodes.play.classList.toggle('active', running);
    this.nodes.pause.classList.toggle('active', !running && state === 'paused');
    // Play and Pause share one place: only the one that applies is shown (focus moves with it)
    const { play, pause } = this.nodes;
    const hide = running ? play : pause;
    const show = running ? pause : play;
    if (!hide.hidden) {
      const focused = document.activeElement === hide;
      hide.hidden = true;
      show.hidden = false;
      if (focused) show.focus();
    }
  }

  connection(state) {
    const node = this.nodes.connection;
    setText(node, CONNECTION_WORDS[state] || state);
    node.className = `conn ${state}`;
    node.dataset.state = state;
  }

  rev(value) {
    setText(this.nodes.rev, value === null || value === undefined ? '–' : String(value));
  }

  total(steps) {
    setText(this.nodes.total, String(steps));
  }
}
