// 1-D density panel: p_d (dashed), q (dotted), the learned p_θ, NCE's self-normalised exp(G − log Ẑ)
// (so the Z gap is visible), a histogram of the data points and a rug of noise points.
// Several runs (compare mode) are drawn side by side, one subplot each.
import { COLORS, axis, draw, expOf, layout, legendBelow, maxOf, title } from './theme.js';

const BINS = 48;
const yTop = new WeakMap(); // el -> {key, top}: the y range only grows while the data stays the same

function histogram(xs, lo, hi) {
  const width = (hi - lo) / BINS;
  const counts = new Array(BINS).fill(0);
  let n = 0;
  for (const x of xs) {
    const i = Math.floor((x - lo) / width);
    if (i >= 0 && i < BINS) { counts[i] += 1; n += 1; }
  }
  const centers = counts.map((_, i) => lo + (i + 0.5) * width);
  return { centers, heights: counts.map(c => (n ? c / (n * width) : 0)), width, n };
}

function stickyTop(el, key, wanted, limit) {
  const state = yTop.get(el);
  const top = state && state.key === key ? Math.max(state.top, Math.min(wanted, limit)) : Math.min(wanted, limit);
  yTop.set(el, { key, top });
  return top;
}

export function drawDensity1d(el, runs, opts) {
  const data = [];
  const count = runs.length;
  const gap = 0.04;
  const span = (1 - gap * (count - 1)) / count;
  const extra = { hovermode: count === 1 ? 'x unified' : 'closest', annotations: [] };
  let pdTop = 0;
  let modelTop = 0;
  const rugs = [];
  const legend = new Set(); // one legend entry per kind of curve, from whichever run has it first
  const once = group => (legend.has(group) ? false : Boolean(legend.add(group)));
  runs.forEach((run, i) => {
    const g = run.grid;
    const xs = g.axes[0];
    const suffix = i === 0 ? '' : String(i + 1);
    const on = { xaxis: `x${suffix}`, yaxis: `y${suffix}` };
    const pd = expOf(g.log_pd);
    const p = expOf(g.log_p);
    pdTop = Math.max(pdTop, maxOf(pd));
    modelTop = Math.max(modelTop, maxOf(p));
    if (opts.showData && run.dataXs.length) {
      const h = histogram(run.dataXs, xs[0], xs[xs.length - 1]);
      data.push({ type: 'bar', x: h.centers, y: h.heights, width: h.width, name: 'data histogram', ...on,
        marker: { color: COLORS.hist, line: { width: 0 } }, opacity: 0.7, legendgroup: 'hist', showlegend: once('hist'),
        hovertemplate: `data: %{y:.3f}<extra></extra>` });
    }
    data.push({ type: 'scatter', mode: 'lines', x: xs, y: pd, name: run.frame && run.frame.p_d === 'kde' ? 'p_d (KDE of your data)' : 'p_d (data)',
      line: { color: COLORS.pd, dash: 'dash', width: 2 }, legendgroup: 'pd', showlegend: once('pd'), ...on });
    if (g.log_q) {
      data.push({ type: 'scatter', mode: 'lines', x: xs, y: expOf(g.log_q), name: 'q (noise)',
        line: { color: COLORS.noise, dash: 'dot', width: 2.5 }, legendgroup: 'q', showlegend: once('q'), ...on });
    }
    data.push({ type: 'scatter', mode: 'lines', x: xs, y: p, name: 'p_θ = e^G / Z (exact Z)', uid: `p-model-${i}`,
      line: { color: run.color || COLORS.model, width: 3 }, legendgroup: 'p', showlegend: once('p'), ...on });
    if (g.log_p_self) {
      data.push({ type: 'scatter', mode: 'lines', x: xs, y: expOf(g.log_p_self), name: 'e^(G − log Ẑ) (learned Z)',
        line: { color: COLORS.self, dash: 'dashdot', width: 2 }, legendgroup: 'self', showlegend: once('self'), ...on });
    }
    if (opts.showNoise && run.points && run.points.noise) {
      rugs.push({ type: 'scatter', mode: 'markers', x: run.points.noise[0], y: null,
        name: 'noise samples', marker: { symbol: 'line-ns-open', size: 10, color: COLORS.noise, opacity: 0.6 },
        legendgroup: 'noisepts', showlegend: once('noisepts'), hoverinfo: 'skip', ...on, cliponaxis: false });
    }
    const domain = [i * (span + gap), i * (span + gap) + span];
    extra[`xaxis${suffix}`] = axis({ domain, range: [xs[0], xs[xs.length - 1]], title: title('x'), anchor: `y${suffix}` });
    if (count > 1) {
      extra.annotations.push({ text: `<b>${run.label}</b>`, xref: 'paper', yref: 'paper', x: (domain[0] + domain[1]) / 2,
        y: 1, yanchor: 'bottom', showarrow: false, font: { color: run.color } });
    }
  });
  const key = `${runs.map(r => r.grid.axes[0].length + ':' + r.grid.axes[0][0]).join('|')}|${opts.logScale}`;
  const top = stickyTop(el, key, Math.max(1.25 * pdTop, 1.08 * modelTop), 3 * pdTop);
  runs.forEach((_, i) => {
    const suffix = i === 0 ? '' : String(i + 1);
    extra[`yaxis${suffix}`] = axis(opts.logScale
      ? { type: 'log', range: [Math.log10(top) - 4, Math.log10(top) + 0.05], anchor: `x${suffix}`, exponentformat: 'power' }
      : { range: [0, top], anchor: `x${suffix}`, rangemode: 'tozero' });
    if (i > 0) extra[`yaxis${suffix}`].matches = 'y';
  });
  extra.yaxis.title = title('density');
  for (const rug of rugs) data.push({ ...rug, y: rug.x.map(() => (opts.logScale ? top * 2e-4 : 0)) });
  const plotLayout = layout({ ...extra, margin: { t: count > 1 ? 26 : 10 }, barmode: 'overlay', bargap: 0,
    legend: legendBelow() }); // below the axis: inside the plot it covered a mode
  draw(el, data, plotLayout);
}

/** Text for the panel header: the learned-vs-true normaliser gap in words. */
export function zGapNote(run) {
  const f = run.frame;
  if (!f || f.log_z_est === null || f.log_z_true === null || f.log_z_est === undefined) return '';
  const gap = f.log_z_est - f.log_z_true;
  if (!f.step) { // before training the gap is only the starting guess's: say so, not a scale factor
    return `step 0: log Ẑ = ${f.log_z_est.toFixed(2)} is a starting guess (log Z = ${f.log_z_true.toFixed(2)}); `
      + (run.method === 'nce' ? 'training learns it' : 'this loss cannot move it');
  }
  return `e^(G − log Ẑ) = p_θ · Z/Ẑ = p_θ × ${Math.exp(-gap).toPrecision(3)}  (log Ẑ − log Z = ${gap >= 0 ? '+' : ''}${gap.toFixed(3)})`;
}
