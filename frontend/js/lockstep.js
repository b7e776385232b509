// Compare mode's clock: the runs are stepped in lockstep. Each round sends every run the same target
// (`step n` up to it), and the next round goes out only when every run has stopped there, so the
// compare table always compares the runs at one and the same step. Each run's wall-clock time to get
// there is summed per round (the cost side of lesson 7's cost-per-step argument); its steps/s comes
// from the server, measured while it steps.
//
// A run that restarts (a new start, a rebuild, a reconnect) or is reset mid-round ends the round;
// the next one steps every run to max(step) + chunk, so the runs are equal again after one round.

// Each round costs a fixed overhead besides the steps (the runs report, draw a frame, hear the next
// step): rounds are sized so that stepping takes about 3x that overhead, between these bounds.
const MIN_STEPPING_S = 0.3;
const MAX_STEPPING_S = 2;
const FIRST_CHUNK = 10;
const MAX_CHUNK = 1000;
const KEEP_FRAMES = 4;      // settled frames kept per run (runs settle a few ms apart)
const FINISHED = new Set(['done', 'diverged', 'error']);
const MAX_STEP_N = 10000;  // the server's bound on one `step n`

function stepOf(run) {
  if (run.status && Number.isInteger(run.status.step)) return run.status.step;
  return run.frame ? run.frame.step : 0;
}

export class Lockstep {
  /** runs(): the compared runs, main first. onChange(): called when `busy` may have changed. */
  constructor({ runs, onChange = () => {} }) {
    Object.assign(this, { runs, onChange });
    this.on = false;        // keep going round after round
    this.once = null;       // a single round of this many steps (the Step button), then stop
    this.round = null;      // {target, n, sentAt, sawRunning: Set, settled: Set}
    this.holding = false;   // a pause went to runs found running, waiting for them to stop
    this.chunk = FIRST_CHUNK;
    this.overhead = 0.2;      // seconds per round besides stepping (moving average)
    this.stale = new Set(); // runs restarted or reset, whose status has not been heard since
    this.seconds = new Map(); // run.id -> wall-clock seconds its rounds took
    this.frames = new Map();  // run.id -> [frame at a settled step, ...] (newest last)
  }

  /** Listen to a run (call before the app's own listeners, so the table reads fresh values). */
  watch(run) {
    run.on('config', (message, { started }) => { if (started || message.rebuilt) this.restarted(run); });
    run.on('status', status => this.heard(run, status));
    run.on('frame', frame => this.frame(run, frame));
  }

  start() {
    if (!this.on) { this.on = true; this.onChange(); }
    this.tick();
  }

  /** Stop after the round in flight (stopping mid-round would leave the runs at different steps). */
  stop() {
    this.once = null;
    if (this.on) { this.on = false; this.onChange(); }
  }

  /** One round of exactly n steps for every run, then stop. */
  step(n) {
    this.stop();
    this.once = n;
    this.tick();
  }

  /** Every run goes back to step 0 (restart or reset): forget the rounds and the times. */
  clear() {
    this.on = false;
    this.once = null;
    this.round = null;
    this.holding = false;
    this.chunk = FIRST_CHUNK;
    this.overhead = 0.2;
    this.seconds = new Map();
    this.frames = new Map();
    this.stale = new Set(this.runs());
    this.onChange();
  }

  restarted(run) {
    this.round = null;
    this.stale.add(run);
    this.seconds.delete(run.id);
    this.frames.delete(run.id);
  }

  /** Moving: a round in flight, or more to come. */
  get busy() {
    return this.on || this.once !== null || this.round !== null;
  }

  heard(run, status) {
    if (!run.awaitingStart) this.stale.delete(run);
    const round = this.round;
    if (round && status.state === 'running') round.sawRunning.add(run);
    this.check(run);
  }

  frame(run, frame) {
    const state = run.status && run.status.state;
    if (state === 'running' || frame.step !== stepOf(run)) return;
    const kept = (this.frames.get(run.id) || []).filter(f => f.step !== frame.step);
    kept.push(frame);
    this.frames.set(run.id, kept.slice(-KEEP_FRAMES));
    this.check(run);
  }

  /** Note when a run has settled in this round (its time counts to then), and go on if all have. */
  check(run) {
    const round = this.round;
    if (round && !round.settled.has(run) && this.settled(run)) {
      round.settled.add(run);
      this.seconds.set(run.id, (this.seconds.get(run.id) || 0) + (performance.now() - round.sentAt) / 1000);
    }
    this.tick();
  }

  /** Stopped at (or past) the round's target, and its frame of that step is in: the next round may
   *  go out (a step sent before that frame is rendered would leave the table without it). */
  settled(run) {
    const state = run.status.state;
    if (FINISHED.has(state)) return true;
    const reached = state === 'paused' && (stepOf(run) >= this.round.target || this.round.sawRunning.has(run));
    return reached && this.frameAt(run, stepOf(run)) !== null;
  }

  /** The latest step every compared run has a settled frame of (null before there is one). While a round
   *  is in flight the runs settle a few ms apart: until the last one has, this is the previous round's step. */
  commonStep() {
    const runs = this.runs();
    let common = null;
    for (const [i, run] of runs.entries()) {
      const steps = new Set((this.frames.get(run.id) || []).map(f => f.step));
      common = i === 0 ? steps : new Set([...common].filter(step => steps.has(step)));
    }
    return common && common.size ? Math.max(...common) : null;
  }

  /** A run's frame at the common step (the table shows these), or null. */
  frameAt(run, step) {
    const kept = this.frames.get(run.id) || [];
    return kept.find(f => f.step === step) || null;
  }

  /** The next round's steps, from the slowest run's stepping speed and the round's overhead. */
  sizeChunk(runs, seconds) {
    const rates = runs.map(run => run.frame && run.frame.steps_per_s).filter(rate => rate > 0);
    if (rates.length < runs.length) { // speed not measured yet: grow until it is
      this.chunk = Math.min(MAX_CHUNK, this.chunk * 2);
      return;
    }
    const slowest = Math.min(...rates);
    const stepping = this.round.n / slowest;
    this.overhead = 0.7 * this.overhead + 0.3 * Math.max(0, seconds - stepping);
    const wanted = Math.min(MAX_STEPPING_S, Math.max(MIN_STEPPING_S, 3 * this.overhead));
    this.chunk = Math.round(Math.min(MAX_CHUNK, Math.max(1, slowest * wanted)));
  }

  tick() {
    const runs = this.runs();
    if (this.round) {
      if (!runs.every(run => this.round.settled.has(run) || this.settled(run))) return;
      this.sizeChunk(runs, (performance.now() - this.round.sentAt) / 1000);
      this.round = null;
      if (!this.on && this.once === null) { this.onChange(); return; } // the last round is in: now paused
    }
    if (!this.on && this.once === null) return;
    if (runs.some(run => this.stale.has(run) || !run.config || run.awaitingStart || !run.socket.open)) return; // wait to hear them
    const live = runs.filter(run => !FINISHED.has(run.status.state));
    if (!live.length) { this.stop(); return; }
    if (live.some(run => run.status.state === 'running')) { // free-running (or a lesson's steps): hold it first
      if (!this.holding) for (const run of live) if (run.status.state === 'running') run.pause();
      this.holding = true;
      return;
    }
    this.holding = false;
    const n = this.once ?? this.chunk;
    const target = Math.max(...live.map(stepOf)) + n;
    this.round = { target, n, sentAt: performance.now(), sawRunning: new Set(), settled: new Set(runs.filter(r => !live.includes(r))) };
    for (const run of live) run.step(Math.min(MAX_STEP_N, target - stepOf(run))); // a far-behind run catches up over rounds
    if (this.once !== null) this.once = null;
  }
}
