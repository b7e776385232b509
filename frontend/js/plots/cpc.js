// CPC: the InfoNCE estimate of mutual information against the true MI and the log(batch) ceiling it
// can never pass, and the critic f(x, y) on the grid. The bound Î ≤ I holds in expectation: one frame's
// estimate (4 fresh batches) can land above the true MI, so the plot shows a window mean with its spread.
import { COLORS, axis, draw, emptyNote, layout, legendBelow, title } from './theme.js';
import { drawMap } from './density2d.js';

export const MI_WINDOW = 20; // frames in the window mean (~2 s of a running page)

/** Mean and standard deviation of the last MI_WINDOW non-null values up to each index. */
export function windowStats(values, window = MI_WINDOW) {
  const mean = [];
  const sd = [];
  const recent = [];
  for (const v of values) {
    if (v !== null && v !== undefined) {
      recent.push(v);
      if (recent.length > window) recent.shift();
    }
    if (!recent.length) { mean.push(null); sd.push(null); continue; }
    const m = recent.reduce((a, b) => a + b, 0) / recent.length;
    const variance = recent.length > 1 ? recent.reduce((a, b) => a + (b - m) ** 2, 0) / (recent.length - 1) : 0;
    mean.push(m);
    sd.push(Math.sqrt(variance));
  }
  return { mean, sd };
}

export function drawMI(el, runs) {
  const data = [];
  const shapes = [];
  let last = null;
  for (const run of runs) {
    const { step, mi_estimate: est } = run.history.columns('step', 'mi_estimate');
    if (!est.some(v => v !== null)) continue;
    last = run.frame;
    const color = runs.length > 1 ? run.color : COLORS.model;
    const label = runs.length > 1 ? `${run.label}: ` : '';
    const { mean, sd } = windowStats(est);
    const kept = mean.map((m, i) => i).filter(i => mean[i] !== null);  // the band's outline: up the top, back the bottom
    const xs = [...kept.map(i => step[i]), ...kept.map(i => step[i]).reverse()];
    const band = [...kept.map(i => mean[i] + sd[i]), ...kept.map(i => mean[i] - sd[i]).reverse()];
    data.push({ type: 'scatter', mode: 'lines', x: xs, y: band, fill: 'toself',
      fillcolor: 'rgba(0,114,178,0.15)', line: { width: 0 }, hoverinfo: 'skip', name: `${label}± 1 sd over ${MI_WINDOW} frames`,
      uid: `mi-band-${run.id}` });
    data.push({ type: 'scatter', mode: 'lines', x: step, y: est, name: `${label}one frame (can pass the true MI)`,
      line: { color, width: 1 }, opacity: 0.35, uid: `mi-raw-${run.id}` });
    data.push({ type: 'scatter', mode: 'lines', x: step, y: mean, name: `${label}InfoNCE estimate, mean of ${MI_WINDOW} frames`,
      line: { color, width: 2.5 }, uid: `mi-mean-${run.id}`,
      hovertemplate: 'step %{x}<br>window mean %{y:.3f}<extra></extra>' });
  }
  if (!data.length || !last) {
    draw(el, [], emptyNote('press Play'));
    return;
  }
  const steps = runs[0].history.columns('step').step;
  const x = [0, Math.max(1, steps[steps.length - 1] || 1)];
  data.push({ type: 'scatter', mode: 'lines', x, y: [last.mi_true, last.mi_true], name: `true MI = ${last.mi_true.toFixed(2)} nats`,
    line: { color: COLORS.pd, dash: 'dash', width: 2 } });
  data.push({ type: 'scatter', mode: 'lines', x, y: [last.mi_cap, last.mi_cap], name: `log(batch) = ${last.mi_cap.toFixed(2)}: the ceiling`,
    line: { color: COLORS.cap, dash: 'dashdot', width: 2 } });
  const top = Math.max(last.mi_true, last.mi_cap) + 0.6;
  shapes.push({ type: 'rect', xref: 'paper', x0: 0, x1: 1, yref: 'y', y0: last.mi_cap, y1: top, fillcolor: 'rgba(192,57,43,0.08)',
    line: { width: 0 }, layer: 'below' });
  draw(el, data, layout({
    shapes,
    legend: legendBelow(),
    xaxis: axis({ title: title('step'), rangemode: 'tozero' }),
    yaxis: axis({ title: title('nats'), range: [Math.min(0, ...data.flatMap(d => d.y).filter(v => v !== null)) - 0.1, top] }),
  }));
}

export function miNote(run) {
  const f = run.frame;
  if (!f || f.mi_estimate === null || f.mi_estimate === undefined) return '';
  const capped = f.mi_true > f.mi_cap ? ' The true MI is above the ceiling: no batch this small can show it.' : '';
  const { mean, sd } = windowStats(run.history.columns('mi_estimate').mi_estimate);
  const m = mean.length && mean[mean.length - 1] !== null ? mean[mean.length - 1] : f.mi_estimate;
  const s = sd.length && sd[sd.length - 1] !== null ? sd[sd.length - 1] : 0;
  return `estimate ${m.toFixed(2)} ± ${s.toFixed(2)} (mean ± sd of the last ${MI_WINDOW} frames) ≤ log(batch) = ${f.mi_cap.toFixed(2)}; `
    + `true ${f.mi_true.toFixed(2)}. A lower bound in expectation: single frames can land above the truth.${capped}`;
}

export function drawCritic(el, run) {
  const g = run.grid;
  if (!g.critic) {
    draw(el, [], emptyNote('the critic appears with CPC'));
    return;
  }
  const contour = g.log_pd ? g.log_pd.map(row => row.map(v => (v === null ? null : Math.exp(v)))) : null;
  // the critic is only defined up to what the batch sees: colour the central 96% of its values
  const values = g.critic.flat().filter(v => v !== null).sort((a, b) => a - b);
  const at = p => values[Math.min(values.length - 1, Math.floor(p * values.length))];
  drawMap(el, g.axes, g.critic, { zmin: at(0.02), zmax: at(0.98), colorTitle: 'f(x, y)', contour,
    points: run.points && run.points.data });
}
