// The normaliser panel: the learned log Ẑ against the true log Z (quadrature) over steps, gap shaded.
// MLE has no learned Z (only the truth); InfoNCE's log Ẑ is a flat line its loss cannot move.
// Each frame describes the average θ̄ of the last ~1/(1 − ema_decay) steps (models/averaging.py), so the
// curves are drawn as they come: Adam's step-to-step wobble (±0.03–0.06 per 10 steps on bimodal NCE with
// ema_decay = 0) is averaged away in θ itself, not hidden by smoothing the plot.
import { COLORS, axis, draw, emptyNote, layout, legendBelow, lineMode, title } from './theme.js';

const RECENT = 0.9; // the y range fits the last 90% of the run (the first steps' log Z swings widely)

/** A y range that fits the recent values, so the gap stays visible after the early transient. */
function recentRange(traces) {
  const values = [];
  for (const t of traces) {
    const last = t.x.length ? t.x[t.x.length - 1] : 0;
    t.y.forEach((v, i) => { if (v !== null && t.x[i] >= last * (1 - RECENT)) values.push(v); });
  }
  if (values.length < 2) return undefined;
  const lo = Math.min(...values);
  const hi = Math.max(...values);
  const pad = Math.max(0.05, 0.15 * (hi - lo));
  return [lo - pad, hi + pad];
}

export function drawZ(el, runs) {
  const data = [];
  const annotations = [];
  const single = runs.length === 1;
  for (const run of runs) {
    const { step, log_z_true: truth, log_z_est: est } = run.history.columns('step', 'log_z_true', 'log_z_est');
    if (!truth.some(v => v !== null)) continue;
    const color = single ? COLORS.pd : run.color;
    const label = single ? '' : `${run.label}: `;
    const hasEst = est.some(v => v !== null);
    const estColor = single ? COLORS.self : run.color;
    data.push({ type: 'scatter', mode: lineMode(truth), x: step, y: truth, name: `${label}log Z (true)`,
      uid: `ztrue-${run.id}`, line: { color, width: 2.5 },
      hovertemplate: 'step %{x}<br>log Z = %{y:.4f}<br>log ∫ e<sup>G</sup> over the grid’s box, by quadrature<extra></extra>' });
    if (hasEst) {
      data.push({ type: 'scatter', mode: lineMode(est), x: step, y: est, name: `${label}log Ẑ (learned)`,
        uid: `zest-${run.id}`, line: { color: estColor, width: 2.5, dash: 'dash' },
        fill: single ? 'tonexty' : 'none', fillcolor: 'rgba(213,94,0,0.14)',
        hovertemplate: 'step %{x}<br>log Ẑ = %{y:.4f}<extra></extra>' });
      if (run.method === 'infonce') {
        annotations.push({ x: step[step.length - 1], y: est[est.length - 1], xanchor: 'right', yanchor: 'bottom',
          text: 'flat: InfoNCE cannot move log Ẑ', showarrow: false, font: { color: single ? COLORS.self : run.color } });
      }
    }
  }
  if (!data.length) {
    draw(el, [], emptyNote(runs.some(r => r.method === 'cpc') ? 'CPC has no density, so no Z' : 'press Play'));
    return;
  }
  const range = recentRange(data);
  draw(el, data, layout({
    annotations,
    legend: legendBelow(),
    xaxis: axis({ title: title('step'), rangemode: 'tozero' }),
    yaxis: axis({ title: title('log Z over the box'), ...(range ? { range, autorange: false } : { autorange: true }) }),
  }));
}

/** Header text for the Z panel. */
export function zNote(run) {
  const f = run.frame;
  const cfg = run.config || {};
  if (cfg.method === 'mle') return 'MLE has no learned Z: log Z is computed exactly by quadrature at every step.';
  if (cfg.method === 'infonce') return 'InfoNCE’s loss is the same for G and G + c: log Ẑ gets no gradient.';
  if (cfg.method === 'cpc') return '';
  if (!f || f.log_z_est === null || f.log_z_true === null || f.log_z_est === undefined) return '';
  const gap = f.log_z_est - f.log_z_true;
  const held = cfg.learn_log_z === false ? ' log Ẑ held at 0 (Z = 1): the network must normalise itself.' : '';
  return `gap log Ẑ − log Z = ${gap >= 0 ? '+' : ''}${gap.toFixed(3)}.${held}`;
}
