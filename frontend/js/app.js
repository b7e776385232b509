// The controller: wires controls -> config -> runs (sockets) -> panels. It owns no drawing and no
// protocol details; each of those lives in its own module.
import { socketUrl } from './api.js';
import { buildKnobTable, fieldsNamed } from './knobs.js';
import { decodeHash } from './hash.js';
import { ConfigStore } from './state.js';
import { Run } from './run.js';
import { Controls } from './controls.js';
import { CostLine } from './cost.js';
import { Panels } from './panels.js';
import { StatusBar } from './status.js';
import { Lessons } from './lessons.js';
import { Presenter } from './presenter.js';
import { Upload } from './upload.js';
import { CompareBar, METHOD_LABELS } from './compare.js';
import { Lockstep } from './lockstep.js';
import { Experiments } from './experiments.js';
import { wireToolbar } from './toolbar.js';
import { bindKeys } from './keyboard.js';
import { COLORS, RUN_COLORS } from './plots/theme.js';

const $ = id => document.getElementById(id);

export class App {
  constructor({ schema, presets, health, messages }) {
    this.messages = messages;
    this.table = buildKnobTable(schema);
    this.store = new ConfigStore(this.table);
    this.status = new StatusBar();
    this.panels = new Panels();
    this.panels.source = () => this.runs;
    this.controls = new Controls($('knobs'), this.table, { presets, onChange: (name, value) => this.change({ [name]: value }) });
    this.cost = new CostLine(this.controls.widgets.batch_size && this.controls.widgets.batch_size.root); // memory, speed
    this.store.on('change', config => this.showConfig(config));
    this.lockstep = new Lockstep({ runs: () => this.runs, onChange: () => this.showState() }); // compare mode's clock
    this.main = this.makeRun('main', COLORS.model);
    this.runs = [this.main];
    this.compare = new CompareBar({
      bar: $('compare-bar'), toggle: $('compare-toggle'), clock: this.lockstep,
      onChange: methods => this.setCompare(methods, this.playing()),
      onTooFew: () => this.messages.info('Compare needs at least two methods.', 'compare'),
    });
    this.lessons = new Lessons({
      strip: $('lessons'), card: $('lesson-card'), title: $('lesson-title'), body: $('lesson-body'), close: $('lesson-close'),
      run: this.main, panels: this.panels,
      onPick: lesson => this.lesson(lesson), onExperiment: name => this.experiments.open(name),
    });
    this.presenter = new Presenter({ toggle: $('present'), panels: this.panels, lessons: this.lessons });
    this.upload = new Upload({ zone: $('dropzone'), input: $('upload'), info: $('upload-info'), error: $('upload-error'),
      onUploaded: info => { this.messages.clear('upload'); this.uploaded(info); },
      onFailed: text => this.messages.error(`${text} The data did not change.`, 'upload'), running: () => this.playing() });
    if (health && health.device) this.status.device(health.device);
    this.experiments = new Experiments(this, { schema, presets });
    this.wire();
  }

  // ---------------------------------------------------------------- runs
  makeRun(id, color) {
    const compact = config => Object.fromEntries(Object.entries(config).filter(([k, v]) => v !== this.store.defaults[k]));
    const run = new Run({ id, label: '', color, url: socketUrl(), compact });
    this.lockstep.watch(run); // first: the compare table reads its settled frames
    run.on('config', (message, { started }) => this.onConfig(run, message, started));
    run.on('frame', frame => {
      if (run === this.main) this.status.frame(frame);
      this.compare.table(this.runs); // a few text cells, changed in place
      this.panels.schedule();
    });
    run.on('status', status => this.onStatus(run, status));
    run.on('error', text => this.onRefusedChange(run, text));
    run.on('start-rejected', text => this.onStartRejected(run, text));
    run.on('connection', state => { if (run === this.main) this.status.connection(state); });
    run.on('lost', info => {
      if (run !== this.main) return;
      this.reconnecting = true;
      this.messages.warn(`Connection lost${info.reason ? ` (${info.reason})` : ''}. Reconnecting in ${Math.ceil(info.retryInMs / 1000)} s…`,
        'connection', { label: 'Reconnect now', run: () => this.runs.forEach(r => r.socket.reconnect()) });
    });
    run.on('refused', info => {
      this.messages.error(`The server refused the session: ${info.reason}.`, 'connection',
        { label: 'Try again', run: () => this.runs.forEach(r => r.socket.reconnect()) });
    });
    return run;
  }

  /** (Re)start every run from `config` (compare runs differ only in method). */
  restartAll(config, running) {
    const methods = this.compare.enabled ? this.compare.methods() : null;
    this.store.replace(config, 'page'); // compare keeps the page's own method (it comes back when compare ends)
    this.lockstep.clear();
    this.runs.forEach((run, i) => run.open(methods ? { ...config, method: methods[i] } : config, { running: running && !methods }));
    if (methods && running) this.lockstep.start(); // compared runs step in lockstep
    this.labelRuns();
  }

  labelRuns() {
    const compare = this.runs.length > 1;
    this.runs.forEach((run, i) => {
      const method = compare ? this.compare.methods()[i] : this.store.config.method;
      run.label = METHOD_LABELS[method] || method;
      run.color = compare ? RUN_COLORS[i] : COLORS.model;
    });
  }

  /** The runs for compare mode's methods (null: one run). New runs wait for restartAll. */
  setRuns(methods) {
    for (const run of this.runs.slice(1)) run.close();
    this.runs = [this.main];
    this.compare.show(methods);
    this.store.setExtras({ compare: methods || [] });
    if (methods) for (let i = 1; i < methods.length; i += 1) this.runs.push(this.makeRun(`compare-${i}`, RUN_COLORS[i]));
  }

  setCompare(methods, running = false) {
    this.setRuns(methods);
    if (methods) this.restartAll(this.store.config, running);
    else this.endCompare(running);
    this.labelRuns();
    this.showConfig(this.store.config);
    this.compare.table(this.runs);
    this.panels.schedule();
  }

  /** Compare off: the main run goes back to the page's own method, running if the runs were. */
  endCompare(running) {
    this.lockstep.clear();
    // the method last asked for, not the last accepted: compare's own start may still be unanswered
    if (this.main.desired && this.main.desired.method !== this.store.config.method) {
      this.main.set({ method: this.store.config.method });
    }
    if (running) this.main.play();
  }

  /** The accepted config is the one a lesson asked for: its rebuild is the lesson's, which the card explains. */
  answersLesson(config) {
    return Boolean(this.lessonAsked) && Object.entries(this.lessonAsked).every(([k, v]) => config[k] === v);
  }

  /** The main run's accepted config as the page's knobs: in compare mode the page keeps its own method. */
  mainKnobs(config) {
    return this.compare.enabled ? { ...config, method: this.store.config.method } : config;
  }

  playing() {
    return this.lockstep.on || this.main.status.state === 'running';
  }

  /** The pill and the Play/Pause toggle: between lockstep rounds the runs pause, which is still running to a
   *  viewer (and so is the last round, which finishes after Pause so that the runs stop at one step). */
  showState() {
    const state = this.main.status.state;
    this.status.state(this.lockstep.busy && state === 'paused' ? 'running' : state);
  }

  // ---------------------------------------------------------------- server replies
  onConfig(run, message, started) {
    if (run === this.main) {
      // the accepted config with the changes still waiting on it (a start's reply may precede them)
      this.store.replace(this.mainKnobs(run.desired), 'server');
      if (!started) this.controls.markInvalid([]); // a refused link's fields stay marked while its message shows
      this.status.rev(message.config_rev);
      this.status.total(message.config.steps);
      this.cost.show(message.cost);
      if (!started && message.changed && message.changed.length && !this.answersLesson(message.config)) {
        const changed = message.changed.join(', ');
        if (message.rebuilt) this.messages.info(`Rebuilt the model for ${changed}: training starts again from step 0.`, 'applied');
        else this.messages.info(`Applied ${changed} to the running model (no restart).`, 'applied');
      }
    }
    if (started) run.startTries = 0;
    if (started && run.stepsOnStart) { // a lesson's script: exactly this many steps, then hold (lessons.js)
      const n = run.stepsOnStart;
      run.stepsOnStart = 0;
      if (!this.experiments.isOpen) run.step(n); // not behind the Experiments view (lesson 2's button opens it)
    }
    if (started && run === this.main && this.reconnecting) {
      this.reconnecting = false;
      this.messages.info('Reconnected: the run started again with the same settings.', 'connection');
    }
    this.labelRuns();
    this.panels.schedule();
  }

  onStatus(run, status) {
    if (run === this.main) {
      this.showState();
      if (status.state !== 'running' && Number.isInteger(status.step)) this.status.step(status.step); // exact at once
    }
    const key = `state-${run.id}`;
    if (status.state === 'diverged') {
      this.messages.error(`${run.label} diverged: ${status.message || 'the loss is no longer finite'}. `
        + 'Lower the learning rate, then press Reset.', key);
    } else if (status.state === 'error') {
      this.messages.error(`${run.label}: ${status.message || 'the run stopped with an error'}.`, key);
    } else {
      this.messages.clear(key);
    }
  }

  onRefusedChange(run, text) {
    const named = fieldsNamed(text);
    if (run === this.main) {
      this.messages.error(`Not applied: ${text}`, 'refused');
      this.cost.refused(text);
      this.controls.markInvalid(named);
      this.store.replace(this.mainKnobs(run.config || this.store.config), 'server');
      this.controls.update(this.store.config, true);
    }
  }

  /** The server refused a start (e.g. a bad link): report it, drop the named fields, start again. */
  onStartRejected(run, text) {
    const named = fieldsNamed(text);
    run.startTries = (run.startTries || 0) + 1;
    if (run === this.main) {
      const fallback = named.length ? `Using the default for ${named.join(', ')}.` : 'Using the defaults.';
      this.messages.error(`These settings were refused: ${text}. ${fallback}`, 'start');
      this.cost.refused(text);
      this.controls.markInvalid(named);
    }
    const config = named.length && run.startTries < 3 ? this.store.withoutFields(run.desired, named) : { ...this.store.defaults };
    if (run !== this.main || this.compare.enabled) config.method = run.desired.method;
    if (run === this.main) this.store.replace(this.mainKnobs(config), 'page');
    run.open(config, { running: run.wantRunning });
  }

  // ---------------------------------------------------------------- user actions
  change(patch) {
    if (this.compare.enabled && 'method' in patch) return;
    this.lessonAsked = null; // a user-made change: its rebuild is announced
    this.controls.markInvalid(this.controls.invalid.filter(name => !(name in patch)));
    this.store.patch(patch, 'user');
    for (const run of this.runs) run.set(patch);
    if (!this.main.socket.open) this.messages.info('Not connected: the change is kept and sent when the connection is back.', 'applied');
  }

  lesson(lesson) {
    this.experiments.close({ resume: false });
    for (const key of ['start', 'hash', 'refused']) this.messages.clear(key);
    this.setRuns(lesson.compare || null);
    const hold = (lesson.script && lesson.script.pause) || 0;
    this.restartAll({ ...this.store.defaults, ...lesson.knobs }, !hold);
    // what the lesson asked the main run for: the reply to its start says "rebuilt" (with everything that
    // differs from the config before), and if a change was in flight it does not read as the start's reply
    this.lessonAsked = Object.fromEntries(Object.keys(lesson.knobs).map(k => [k, this.main.desired[k]]));
    for (const run of this.runs) run.stepsOnStart = hold;
    this.panels.schedule();
  }

  uploaded(info) {
    this.controls.setCustomData(info);
    const patch = { data: 'custom', data_file: info.handle };
    if (this.store.config.method === 'cpc') patch.method = 'nce';
    this.change(patch);
  }

  play() {
    if (this.runs.some(r => r.status.state === 'done')) this.messages.info('The run had finished: it starts again from step 0.', 'applied');
    if (this.compare.enabled) { // lockstep rounds (a finished run starts again from step 0, all of them)
      if (this.runs.some(r => ['done', 'diverged'].includes(r.status.state))) this.reset();
      this.lockstep.start();
      return;
    }
    this.runs.forEach(r => r.play());
  }

  pause() {
    this.lockstep.stop(); // the round in flight ends, so the runs stop at one step
    if (!this.lockstep.round) this.runs.forEach(r => r.pause());
  }

  step() {
    const n = Number($('step-size').value) || 1;
    if (this.compare.enabled) this.lockstep.step(n);
    else this.runs.forEach(r => r.step(n));
  }

  reset() {
    this.lockstep.clear();
    this.runs.forEach(r => r.reset());
  }

  showConfig(config) {
    this.controls.update(config);
    if (this.compare.enabled) {
      const widget = this.controls.widgets.method;
      if (widget) {
        for (const input of widget.root.querySelectorAll('select')) input.disabled = true;
        this.controls.hints.method.textContent = 'Compare mode: pick the methods in the compare bar (this one comes back when Compare is off).';
      }
    }
  }

  wire() {
    $('play').addEventListener('click', () => this.play());
    $('pause').addEventListener('click', () => this.pause());
    $('step').addEventListener('click', () => this.step());
    $('reset').addEventListener('click', () => this.reset());
    wireToolbar(this);
    window.addEventListener('hashchange', () => this.openHash(window.location.hash));
    bindKeys({
      toggle: () => (this.playing() ? this.pause() : this.play()),
      step: () => this.step(),
      reset: () => this.reset(),
    });
  }

  /** Apply a link's hash: report what cannot be used, start from the rest (the server validates).
   *  An Experiments link opens that view over a live run at the defaults (kept if there is one). */
  openHash(hash) {
    const { patch, extras, problems } = decodeHash(hash, this.table);
    this.lessonAsked = null;
    if (problems.length) this.messages.error(`This link has problems: ${problems.join('; ')}.`, 'hash');
    if (!extras.view || !this.main.desired) {
      const methods = extras.compare && extras.compare.length >= 2 ? extras.compare.slice(0, 3) : null;
      this.setRuns(methods);
      this.restartAll({ ...this.store.defaults, ...patch }, false);
      for (const run of this.runs) run.stepsOnStart = 0; // a lesson's script ends with its lesson
    }
    this.experiments.fromHash(extras.view || null);
  }

  start() {
    this.status.connection('connecting');
    this.openHash(window.location.hash);
  }
}
