// Export a run: JSON (config + history + final state, shaped like the CLI's RESULT.json), CSV (the
// history) and PNG (through Plotly); and an experiment's sweep the same three ways.

function flat(values) {
  return values && Array.isArray(values[0]) ? values.flat() : values;
}

/** The RESULT.json-like document of one run. */
export function runDocument(run) {
  const f = run.frame || {};
  const g = run.grid || {};
  const grad = run.grad;
  return {
    label: run.label,
    config: run.config,
    config_rev: run.configRev,
    device: f.device ?? null,
    steps_per_s: f.steps_per_s ?? null,
    state: run.status.state,
    message: run.status.message,
    p_d: f.p_d ?? null,
    history: run.history.rows,
    final: {
      step: f.step ?? null,
      log_z_est: f.log_z_est ?? null,
      log_z_true: f.log_z_true ?? null,
      kl: f.kl ?? null,
      mi_estimate: f.mi_estimate ?? null,
      mi_true: f.mi_true ?? null,
      grid: g.axes ? { axes: g.axes, log_p: flat(g.log_p) ?? null, ...(g.critic ? { critic: flat(g.critic) } : {}) } : null,
      grad: grad ? { nr: grad.nr, cos: grad.cos, norm_ratio: grad.norm_ratio } : null,
    },
  };
}

export function download(filename, type, text) {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = document.createElement('a');
  a.href = url;
  a.download = filename;
  a.rel = 'noopener';
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

function baseName(run) {
  const c = run.config || {};
  const step = run.frame ? run.frame.step : 0;
  return `nce-playground-${c.method || 'run'}-${c.method === 'cpc' ? 'pairs' : c.data || 'data'}-step${step}`;
}

export function exportJSON(runs, link) {
  const [main, ...others] = runs;
  const doc = { ...runDocument(main), link, exported_at: new Date().toISOString() };
  if (others.length) doc.compare_runs = others.map(runDocument);
  download(`${baseName(main)}.json`, 'application/json', `${JSON.stringify(doc, null, 1)}\n`);
}

export function exportCSV(runs) {
  const [main] = runs;
  if (runs.length === 1) {
    download(`${baseName(main)}.csv`, 'text/csv', main.history.toCSV());
    return;
  }
  const parts = runs.map((run, i) => {
    const lines = run.history.toCSV().trimEnd().split('\n');
    return lines.map((line, j) => (j === 0 ? (i === 0 ? `run,${line}` : null) : `${run.label},${line}`)).filter(l => l !== null);
  });
  download(`${baseName(main)}-compare.csv`, 'text/csv', `${parts.flat().join('\n')}\n`);
}

export function exportPNG(plotEl, run) {
  if (!window.Plotly || !plotEl || !plotEl.data) return Promise.reject(new Error('the plot is not drawn yet'));
  return window.Plotly.downloadImage(plotEl, { format: 'png', scale: 2, filename: `${baseName(run)}-density` });
}

// ---------------------------------------------------------------- experiments (sweeps)

const csvCell = v => (v === null || v === undefined ? '' : /[",\n]/.test(String(v)) ? `"${String(v).replace(/"/g, '""')}"` : String(v));
const sweepName = doc => `nce-playground-experiment-${doc.experiment}`;

/** The sweep as SWEEP_RESULT.json: the `sweep_done` result, or what has arrived so far (complete: false). */
export function sweepDocument(state) {
  if (state.result) return state.result;
  return { experiment: state.experiment, config: state.config, models: state.models, complete: false,
    points: state.points, theory_curves: state.theory };
}

export function exportSweepJSON(state, link) {
  const doc = { ...sweepDocument(state), link, exported_at: new Date().toISOString() };
  download(`${sweepName(doc)}.json`, 'application/json', `${JSON.stringify(doc, null, 1)}\n`);
}

/** One row per point: axis value, series (noise label or batch size), measured, its CI, theory, reps, extras. */
export function sweepCSV(state, axisKey) {
  const extras = {
    efficiency: ['bias', 'mle_baseline'], ranking: ['bias', 'mle_baseline'], cpc_ceiling: ['cap', 'seconds_per_step'],
    nr_budget: ['z_gap', 'seconds_per_step', 'negatives_per_step'],
  }[state.experiment] || [];
  const series = p => (p.batch_size !== undefined && state.experiment === 'cpc_ceiling' ? `B=${p.batch_size}` : p.label ?? '');
  const head = [axisKey, 'series', 'measured', 'ci_low', 'ci_high', 'theory', 'reps', 'failed', ...extras];
  const rows = state.points.map(p => [p[axisKey], series(p), p.measured, p.ci ? p.ci[0] : null, p.ci ? p.ci[1] : null,
    p.theory, p.reps, p.failed, ...extras.map(k => p[k])]);
  return `${[head, ...rows].map(r => r.map(csvCell).join(',')).join('\n')}\n`;
}

export function exportSweepCSV(state, axisKey) {
  download(`${sweepName(state)}.csv`, 'text/csv', sweepCSV(state, axisKey));
}

export function exportSweepPNG(plotEl, state) {
  if (!window.Plotly || !plotEl || !plotEl.data) return Promise.reject(new Error('the plot is not drawn yet'));
  return window.Plotly.downloadImage(plotEl, { format: 'png', scale: 2, width: 1200, height: 640, filename: sweepName(state) });
}
