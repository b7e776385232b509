// Compare mode's bar: which methods run side by side (2 or 3), and a table of their numbers
// (cost per step and result). The controller owns the runs; this only reads and shows them.

export const METHOD_LABELS = { mle: 'MLE', nce: 'NCE', infonce: 'InfoNCE', cpc: 'CPC' };
const MIN_RUNS = 2;

function fmt(value, digits = 3) {
  return value === null || value === undefined ? '–' : Number(value).toPrecision(digits);
}

export class CompareBar {
  constructor({ bar, toggle, onChange, onTooFew }) {
    Object.assign(this, { bar, toggle });
    this.boxes = [...bar.querySelectorAll('input[type="checkbox"]')];
    this.tbody = bar.querySelector('tbody');
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
        const cells = Array.from({ length: 6 }, () => document.createElement('td'));
        const swatch = document.createElement('span');
        swatch.className = 'swatch';
        swatch.style.background = run.color;
        cells[0].append(swatch, document.createTextNode(run.label));
        tr.append(...cells);
        this.tbody.append(tr);
        return { run, cells };
      });
    }
    for (const { run, cells } of this.rows) {
      const f = run.frame || {};
      const gap = f.log_z_est !== null && f.log_z_est !== undefined && f.log_z_true !== null && f.log_z_true !== undefined
        ? (f.log_z_est - f.log_z_true).toFixed(3) : '–';
      const values = [String(f.step ?? '–'), f.steps_per_s ? String(Math.round(f.steps_per_s)) : '–', fmt(f.loss), fmt(f.kl), gap];
      values.forEach((text, i) => { if (cells[i + 1].textContent !== text) cells[i + 1].textContent = text; });
    }
  }
}
