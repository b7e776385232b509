// Per-run history: frames carry only the current scalars, so the page accumulates the curves.
// Cleared on reset (the step goes back) and on a rebuild; thinned to at most MAX_ROWS rows.

export const HISTORY_KEYS = ['step', 'loss', 'log_z_est', 'log_z_true', 'kl', 'grad_cos', 'grad_norm_ratio',
  'mi_estimate', 'mi_true', 'mi_cap', 'noise_coverage', 'lr', 'steps_per_s', 'config_rev'];
const MAX_ROWS = 4000;

export class History {
  constructor() { this.rows = []; }

  clear() { this.rows = []; }

  /** Adds a frame's scalars; a frame at the same step replaces the last row, an earlier step clears. */
  add(frame) {
    const row = {};
    for (const key of HISTORY_KEYS) row[key] = frame[key] ?? null;
    const last = this.rows[this.rows.length - 1];
    if (last && row.step < last.step) this.rows = [];
    if (last && row.step === last.step && this.rows.length) this.rows[this.rows.length - 1] = row;
    else this.rows.push(row);
    if (this.rows.length > MAX_ROWS) {
      const keep = this.rows.filter((_, i) => i % 2 === 0);
      if (keep[keep.length - 1] !== row) keep.push(row);
      this.rows = keep;
    }
  }

  /** Column arrays for plotting: {step: [...], loss: [...], ...}. */
  columns(...keys) {
    const out = {};
    for (const key of keys) out[key] = this.rows.map(r => r[key]);
    return out;
  }

  get length() { return this.rows.length; }

  toCSV() {
    const escape = v => (v === null || v === undefined ? '' : String(v));
    const lines = [HISTORY_KEYS.join(',')];
    for (const row of this.rows) lines.push(HISTORY_KEYS.map(k => escape(row[k])).join(','));
    return `${lines.join('\n')}\n`;
  }
}
