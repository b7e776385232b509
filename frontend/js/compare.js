// Compare mode's bar: which methods run side by side (2 or 3), and a table of their numbers
// (cost per step and result). The controller owns the runs and the lockstep clock; this only reads
// and shows them. The rows are read at the step every run has settled at (the clock's common step),
// so they always compare the runs at equal steps.
import { formatKL } from './plots/curves.js';

export const METHOD_LABELS = { mle: 'MLE', nce: 'NCE', infonce: 'InfoNCE', cpc: 'CPC' };
const MIN_RUNS = 2;
const COLUMNS = 7; // run, step, steps/s, time, loss, KL, log Ẑ − log Z

function fmt(value, digits = 3) {
  return value === null || value === undefined ? '–' : Number(value).toPrecision(digits);
}

export class CompareBar {
  /** clock: the Lockstep (commonStep(), frameAt(run, step), seconds: Map run.id -> s). */
  constructor({ bar, toggle, clock = null, onChange, onTooFew }) {
    Object.assign(this, { bar, toggle, clock });
    this.boxes = [...bar.querySelectorAll('input[type="checkbox"]')];
    this.tbody = bar.querySelector('tbody');
    this.note = bar.querySelector('.compare-note');
    this.enabled = false;
    this.rows = [];
    toggle.addEventListener('click', () => onChange(this.enabled ? null : this.methods()));
    for (const box of this.boxes) {
      box.addEventListener('change', () => {
        if (this.methods().length < MIN_RUNS) {
          box.checked = true;
          onTooFew();
          return;
        }
        onChange(this.methods());
      });
    }
  }

  methods() {
    return this.boxes.filter(b => b.checked).map(b => b.value);
  }

  show(methods) {
    this.enabled = Boolean(methods);
    this.bar.hidden = !this.enabled;
    this.toggle.setAttribute('aria-pressed', String(this.enabled));
    if (methods) for (const box of this.boxes) box.checked = methods.includes(box.value);
  }

  /** One row per run, built when the runs change; cells updated in place after that. */
  table(runs) {
    if (!this.enabled) return;
    if (this.rows.length !== runs.length || this.rows.some((r, i) => r.run !== runs[i])) {
      this.tbody.replaceChildren();
      this.rows = runs.map(run => {
        const tr = document.createElement('tr');
        tr.dataset.run = run.label;
        const cells = Array.from({ length: COLUMNS }, () => document.createElement('td'));
        const swatch = document.createElement('span');
        swatch.className = 'swatch';
        swatch.style.background = run.color;
        cells[0].append(swatch, document.createTextNode(run.label));
        tr.append(...cells);
        this.tbody.append(tr);
        return { run, cells };
      });
    }
    const common = this.clock ? this.clock.commonStep() : null;
    const latestSteps = new Set(runs.map(run => (run.frame ? run.frame.step : null)));
    for (const { run, cells } of this.rows) {
      // the runs at one step, or nothing: the latest frames only while they agree (before the first settled one)
      const f = common !== null ? this.clock.frameAt(run, common) : latestSteps.size === 1 ? run.frame || {} : {};
      const latest = run.frame || {};
      const seconds = this.clock ? this.clock.seconds.get(run.id) : undefined;
      const gap = f.log_z_est !== null && f.log_z_est !== undefined && f.log_z_true !== null && f.log_z_true !== undefined
        ? (f.log_z_est - f.log_z_true).toFixed(3) : '–';
      const values = [String(f.step ?? '–'), latest.steps_per_s ? String(Math.round(latest.steps_per_s)) : '–',
        seconds ? seconds.toFixed(1) : '–', fmt(f.loss), formatKL(f.kl), gap]; // KL as the KL panel shows it ("< 1e-3" below its resolution)
      values.forEach((text, i) => { if (cells[i + 1].textContent !== text) cells[i + 1].textContent = text; });
    }
    if (this.note) {
      const text = common !== null
        ? `Lockstep: every run is stepped to the same step before any goes on, so each row is at step ${common}. `
          + 'steps/s is a run’s own training speed (cost per step); time is the wall-clock it spent getting here.'
        : 'Lockstep: the runs are stepped together, so the rows compare them at equal steps.';
      if (this.note.textContent !== text) this.note.textContent = text;
    }
  }
}
