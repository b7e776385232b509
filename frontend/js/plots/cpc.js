// CPC: the InfoNCE estimate of mutual information against the true MI and the log(batch) ceiling it
// can never pass, and the critic f(x, y) on the grid.
import { COLORS, axis, draw, emptyNote, layout, legendBelow, title } from './theme.js';
import { drawMap } from './density2d.js';

export function drawMI(el, runs) {
  const data = [];
  const shapes = [];
  let last = null;
  for (const run of runs) {
    const { step, mi_estimate: est } = run.history.columns('step', 'mi_estimate');
    if (!est.some(v => v !== null)) continue;
    last = run.frame;
    data.push({ type: 'scatter', mode: 'lines', x: step, y: est, name: `${runs.length > 1 ? `${run.label}: ` : ''}InfoNCE estimate`,
      line: { color: runs.length > 1 ? run.color : COLORS.model, width: 2.5 } });
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
    yaxis: axis({ title: title('nats'), range: [Math.min(0, ...data[0].y.filter(v => v !== null)) - 0.1, top] }),
  }));
}

export function miNote(run) {
  const f = run.frame;
  if (!f || f.mi_estimate === null || f.mi_estimate === undefined) return '';
  const capped = f.mi_true > f.mi_cap ? ' The true MI is above the ceiling: no batch this small can show it.' : '';
  return `estimate ${f.mi_estimate.toFixed(2)} ≤ log(batch) = ${f.mi_cap.toFixed(2)}; true ${f.mi_true.toFixed(2)}.${capped}`;
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
