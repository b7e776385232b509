// The Experiments view: pick an experiment, set its knobs, run it as a sweep on the server and watch the
// points arrive over the theory. Thin: the form is experiments-form.js, the socket and the sweep's state
// sweep.js, the drawing plots/experiment.js, the downloads export.js. The live run pauses while it is open.
import { formatMemory } from './cost.js';
import { socketUrl } from './api.js';
import { fieldsNamed } from './knobs.js';
import { SweepClient } from './sweep.js';
import { ExperimentForm } from './experiments-form.js';
import { drawExperiment } from './plots/experiment.js';
import { resizeAll } from './plots/theme.js';
import { exportSweepCSV, exportSweepJSON, exportSweepPNG } from './export.js';

const $ = id => document.getElementById(id);
const ELEMENTS = {
  view: 'experiments-view', live: 'live-view', toggle: 'experiments-toggle', select: 'experiment-select',
  knobs: 'experiment-knobs', run: 'experiment-run', cancel: 'experiment-cancel', error: 'experiment-error',
  progress: 'experiment-progress', plot: 'experiment-plot', caption: 'experiment-caption', title: 'experiment-title',
  size: 'experiment-size', json: 'experiment-export-json', csv: 'experiment-export-csv', png: 'experiment-export-png',
};
const ORDER = ['efficiency', 'ranking', 'cpc_ceiling', 'nr_budget'];
const ACTIVE = new Set(['queued', 'running']);

/** ' (predicted ~40 s, ~120 MB)': the server's prediction for a running sweep, '' without one. */
export function predictedText(predicted) {
  if (!predicted) return '';
  const seconds = predicted.seconds;
  const time = seconds < 90 ? `~${Math.max(1, Math.round(seconds))} s` : `~${Math.round(seconds / 60)} min`;
  return ` (predicted ${time} on one core, ${formatMemory(predicted.memory_mb)})`;
}
const CI_NOTE = 'Lines: theory. Markers: the measured mean over the repetitions; bars: its 95% confidence interval '
  + '(normal approximation: mean ± 1.96·sd/√reps).';
const BUDGET_NOTE = 'No closed-form theory here. Left axis: the final KL (markers; bars: 95% interval over the seeds, '
  + 'normal approximation); right axis: the time each training step costs. More Nᵣ: more noise per step.';
const CPC_NOTE = 'Dashed: each batch size’s ceiling log B; dotted: the true MI.';

const short = description => String(description || '').split(/:\s/)[0];
const setText = (node, text) => { if (node.textContent !== text) node.textContent = text; };

export class Experiments {
  constructor(app, { schema, presets }) {
    this.app = app;
    this.specs = (schema && schema.experiments) || {};
    this.presets = presets;
    this.names = [...ORDER.filter(n => n in this.specs), ...Object.keys(this.specs).filter(n => !ORDER.includes(n))];
    this.states = {};        // experiment -> its latest sweep
    this.requested = null;   // the experiment asked for, until the server answers
    this.isOpen = false;
    this.resume = false;     // the live run was running when the view opened
    this.el = Object.fromEntries(Object.entries(ELEMENTS).map(([key, id]) => [key, $(id)]));
    if (!this.names.length) { this.el.toggle.hidden = true; return; } // a server without experiments
    for (const name of this.names) {
      const option = document.createElement('option');
      option.value = name;
      option.textContent = short(this.specs[name].description) || name;
      option.title = this.specs[name].description;
      this.el.select.append(option);
    }
    this.sweeps = new SweepClient(socketUrl());
    this.sweeps.on('update', state => this.onUpdate(state));
    this.sweeps.on('refused', text => { this.requested = null; this.showError(text); this.render(); });
    this.wire();
    this.pick(this.names[0]);
  }

  wire() {
    const e = this.el;
    e.toggle.addEventListener('click', () => (this.isOpen ? this.close() : this.open()));
    e.select.addEventListener('change', () => { this.pick(e.select.value); this.writeHash(); });
    const form = $('experiment-form');
    form.addEventListener('submit', event => { event.preventDefault(); this.run(); });
    form.addEventListener('change', event => { if (event.target !== e.select) this.writeHash(); });
    form.addEventListener('input', () => this.size());
    e.cancel.addEventListener('click', () => this.sweeps.cancel());
    const shown = () => this.states[this.name];
    e.json.addEventListener('click', () => exportSweepJSON(shown(), this.app.store.link()));
    e.csv.addEventListener('click', () => exportSweepCSV(shown(), this.specs[this.name].axis));
    e.png.addEventListener('click', () => exportSweepPNG(e.plot, shown())
      .catch(err => this.app.messages.error(`PNG export failed: ${err.message}`, 'export')));
  }

  /** Show experiment `name` with its default knobs. */
  pick(name) {
    this.name = name;
    this.el.select.value = name;
    this.form = new ExperimentForm(this.el.knobs, name, this.specs[name], this.presets);
    this.el.title.textContent = this.el.select.selectedOptions[0].textContent;
    this.clearError();
    this.size();
    this.render();
  }

  /** Open the view (on `name`, its knobs set from `params` when given: a link). */
  open(name = null, params = null) {
    if (!this.names.length) return;
    const problems = [];
    if (name && !this.specs[name]) {
      problems.push(`experiment: '${name}' is not one of ${this.names.join(', ')} (ignored)`);
      name = null;
    }
    if (name && (name !== this.name || params)) this.pick(name);
    if (params) problems.push(...this.form.apply(params));
    this.size();
    if (problems.length) this.app.messages.error(`This link has problems: ${problems.join('; ')}.`, 'hash');
    if (!this.isOpen) {
      this.isOpen = true;
      const main = this.app.main;
      this.resume = main.wantRunning || this.app.playing(); // playing(): also compare mode's lockstep
      if (this.resume) this.app.pause();
      this.show(true);
    }
    this.writeHash();
    this.render();
  }

  /** Back to the live view (its hash comes back); resume: play the live run if the view paused it. */
  close({ resume = true } = {}) {
    if (!this.isOpen) return;
    this.isOpen = false;
    this.show(false);
    this.app.store.setExtras({ view: null });
    if (resume && this.resume) this.app.play();
    this.resume = false;
    requestAnimationFrame(() => { resizeAll(); this.app.panels.redrawAll(); });
  }

  /** The hash's view extras ({view, experiment, ...knobs}) or null. */
  fromHash(view) {
    if (!view) { this.close({ resume: false }); return; } // a live link starts its own run
    const { view: _view, experiment, ...params } = view;
    this.open(experiment || this.names[0], params);
  }

  show(on) {
    this.el.view.hidden = !on;
    this.el.live.hidden = on;
    document.body.classList.toggle('experiments-open', on);
    this.el.toggle.setAttribute('aria-pressed', String(on));
  }

  size() {
    const n = this.form.models();
    setText(this.el.size, n ? `${n.toLocaleString('en')} models` : '');
  }

  writeHash() {
    if (this.isOpen) this.app.store.setExtras({ view: { view: 'experiments', experiment: this.name, ...this.form.params() } });
  }

  run() {
    this.clearError();
    this.requested = this.name;
    this.sweeps.run(this.form.config());
    this.render();
  }

  onUpdate(state) {
    const fresh = this.states[state.experiment] !== state;
    this.states[state.experiment] = state;
    if (fresh) {
      if (this.requested === state.experiment) this.requested = null;
      if (state.experiment === this.name) this.clearError();
    }
    if (['error', 'lost'].includes(state.status) && state.experiment === this.name) this.showError(state.message);
    this.schedule();
  }

  showError(text) {
    this.el.error.textContent = text;
    this.el.error.hidden = false;
    this.form.markInvalid(fieldsNamed(text));
  }

  clearError() {
    this.el.error.hidden = true;
    this.el.error.textContent = '';
    this.form.markInvalid([]);
  }

  schedule() {
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame(() => { this.pending = false; this.render(); });
  }

  render() {
    if (!this.names.length) return;
    const state = this.states[this.name] || null;
    const spec = this.specs[this.name];
    this.progress(state);
    const captions = [spec.description, this.name === 'nr_budget' ? BUDGET_NOTE : CI_NOTE];
    if (this.name === 'cpc_ceiling') captions.push(CPC_NOTE);
    const r = state && state.result;
    if (r) captions.push(`${r.models} models on ${String(r.device).toUpperCase()} in ${Number(r.seconds).toFixed(1)} s.`);
    const failed = state ? state.points.reduce((n, p) => n + (p.failed || 0), 0) : 0;
    if (failed) captions.push(`${failed} repetitions failed to fit or diverged and are left out.`);
    const note = state && state.points.map(p => p.note).find(Boolean); // e.g. which knob made them diverge
    if (note) captions.push(`${note.charAt(0).toUpperCase()}${note.slice(1)}.`);
    setText(this.el.caption, captions.join(' '));
    const ready = Boolean(state && state.points.length);
    for (const button of [this.el.json, this.el.csv, this.el.png]) button.disabled = !ready;
    this.el.cancel.disabled = !this.sweeps.running;
    if (this.isOpen) drawExperiment(this.el.plot, state, spec, 'press Run to start the experiment');
  }

  progress(state) {
    let percent = 0;
    let text = 'not run yet';
    const other = this.sweeps.active;
    if (this.requested === this.name) {
      text = 'starting…';
    } else if (state) {
      const units = state.total === state.models ? 'models' : 'model steps';
      // 100 only once the result is in: the last points come just after the last progress message
      percent = state.status === 'done' ? 100 : state.total ? Math.min(99, (100 * state.done) / state.total) : 0;
      text = {
        queued: 'queued: waiting for another sweep on the server to finish',
        running: `${state.done} / ${state.total} ${units}${predictedText(state.predicted)}`,
        done: `done: ${state.models} models`,
        cancelled: `cancelled at ${state.done} / ${state.total} ${units}`,
        error: 'failed',
        lost: 'stopped: the connection was lost',
      }[state.status];
    } else if (other && ACTIVE.has(other.status)) {
      text = `not run yet (${other.experiment} is running)`;
    }
    const node = this.el.progress;
    node.setAttribute('aria-valuenow', String(Math.round(percent)));
    node.setAttribute('aria-valuetext', text);
    node.dataset.status = this.requested === this.name ? 'starting' : state ? state.status : 'idle';
    node.firstElementChild.style.width = `${percent.toFixed(1)}%`;
    setText(node.lastElementChild, text);
  }
}
