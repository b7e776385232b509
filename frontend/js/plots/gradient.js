// The seed's eq. 42–47 made visible: cos(g_NCE, g_MLE) and ‖g_NCE‖/‖g_MLE‖ over a ladder of Nᵣ
// (log axis) with a marker at the current Nᵣ, and the per-x weight Nᵣq / (p_θ + Nᵣq) that goes to 1.
import { COLORS, axis, draw, emptyNote, expOf, fontPx, layout, legendBelow, logTicks, maxOf, title } from './theme.js';
import { drawMap } from './density2d.js';

// The formula the curves are computed from (models/gradients.py), and how it relates to the note's eq. 44.
export const GRAD_FORMULA = '−∇<sub>θ</sub>L<sub>NCE</sub> = Σ w (p<sub>d</sub> − p<sub>θ</sub>) ∇<sub>θ</sub>G<br>'
  + '(log Ẑ held at log Z; hover: eq. 44)';
export const GRAD_FORMULA_NOTE = 'w = Nᵣq / (p<sub>θ</sub> + Nᵣq), the weight panel’s curve.<br>'
  + 'MLE: −∇<sub>θ</sub>L<sub>MLE</sub> = Σ (p<sub>d</sub> − p<sub>θ</sub>) ∇<sub>θ</sub>G (w = 1).<br>'
  + 'The note’s eq. 44 has ∇<sub>θ</sub>log p<sub>θ</sub> = ∇<sub>θ</sub>G − ∇<sub>θ</sub>log Z<sub>θ</sub> in place of ∇<sub>θ</sub>G '
  + '(it differentiates through log Z);<br>the two differ by ∇<sub>θ</sub>log Z<sub>θ</sub> · Σ w (p<sub>d</sub> − p<sub>θ</sub>), '
  + 'which vanishes only as Nᵣ → ∞.';

export function drawGrad(el, run) {
  const g = run.grad;
  if (!g || !g.nr) {
    draw(el, [], emptyNote(run.method === 'cpc' ? 'no gradient comparison for CPC' : 'waiting for the first frame'));
    return;
  }
  const cosMin = Math.min(0, ...g.cos.filter(v => v !== null), g.cos_current ?? 1);
  const yLow = cosMin - 0.05;
  const data = [
    { type: 'scatter', mode: 'lines', x: [0.1, 1000], y: [1, 1], name: 'MLE (cos = 1, ratio = 1)', hoverinfo: 'skip',
      line: { color: '#9aa5b1', dash: 'dot', width: 1.5 } },
    { type: 'scatter', mode: 'lines+markers', x: g.nr, y: g.cos, name: 'cos(g_NCE, g_MLE)', uid: 'cos',
      line: { color: COLORS.model, width: 2.5 }, marker: { size: 5 },
      hovertemplate: `Nᵣ %{x:.3g}<br>cos %{y:.4f}<br>${GRAD_FORMULA.replace(/<br>.*/, '')}, log Ẑ held at log Z<extra></extra>` },
    { type: 'scatter', mode: 'lines+markers', x: g.nr, y: g.norm_ratio, name: '‖g_NCE‖ / ‖g_MLE‖ (right axis)', yaxis: 'y2',
      line: { color: COLORS.good, width: 2, dash: 'dash' }, marker: { size: 5, symbol: 'square' },
      hovertemplate: 'Nᵣ %{x:.3g}<br>norm ratio ‖g_NCE‖ / ‖g_MLE‖ = %{y:.4f}<extra></extra>' },
    { type: 'scatter', mode: 'lines', x: [g.nr_current, g.nr_current], y: [yLow, 1.05], name: 'current Nᵣ', showlegend: false,
      hoverinfo: 'skip', line: { color: COLORS.self, width: 1.5, dash: 'dash' } },
    { type: 'scatter', mode: 'markers', x: [g.nr_current], y: [g.cos_current], name: `now: Nᵣ = ${g.nr_current}`, uid: 'nr-marker',
      marker: { size: 14, symbol: 'diamond', color: COLORS.self, line: { color: '#fff', width: 1.5 } },
      hovertemplate: 'Nᵣ %{x:.3g}<br>cos %{y:.4f}<extra></extra>' },
    { type: 'scatter', mode: 'markers', x: [g.nr_current], y: [g.norm_ratio_current], yaxis: 'y2', showlegend: false,
      name: 'current ratio', marker: { size: 12, symbol: 'diamond-open', color: COLORS.self, line: { width: 2.5 } },
      hovertemplate: 'Nᵣ %{x:.3g}<br>ratio %{y:.4f}<extra></extra>' },
  ];
  const ratios = [...g.norm_ratio, g.norm_ratio_current];
  // the formula goes under the x axis, in a bottom margin of its own: over the plot it hid the curves and
  // met the cos axis' title in a narrow panel
  const size = fontPx() - 1;
  const underAxis = Math.round(3 * fontPx() + 14); // the x tick labels and the x title
  const formula = el.clientWidth > 48 * size ? GRAD_FORMULA.replace('<br>', '  ') : GRAD_FORMULA; // one line when it fits
  const lines = formula.split('<br>').length;
  draw(el, data, layout({
    showlegend: false,
    margin: { r: 56, b: underAxis + Math.round(lines * 1.3 * size) + 8 },
    annotations: [{ name: 'formula', text: formula, hovertext: GRAD_FORMULA_NOTE, xref: 'paper', yref: 'paper',
      x: 0.5, y: 0, yshift: -underAxis, xanchor: 'center', yanchor: 'top', align: 'center', showarrow: false,
      font: { size, color: '#3e4c59' } }],
    xaxis: axis({ type: 'log', range: [-1.05, 3.05], title: title('Nᵣ (log scale)'), dtick: 1, exponentformat: 'none' }),
    yaxis: axis({ title: { ...title('cos(g_NCE, g_MLE)'), font: { color: COLORS.model } }, range: [yLow, 1.05],
      tickfont: { color: COLORS.model } }),
    yaxis2: axis({ title: { ...title('norm ratio (dashed)'), font: { color: COLORS.good } }, ...logTicks(ratios),
      overlaying: 'y', side: 'right', showgrid: false, tickfont: { color: COLORS.good } }),
  }));
}

export function gradNote(run) {
  const g = run.grad;
  if (!g || g.cos_current === null || g.cos_current === undefined) return '';
  return `at Nᵣ = ${g.nr_current}: cos = ${g.cos_current.toFixed(4)}, norm ratio = ${(g.norm_ratio_current ?? NaN).toFixed(3)}`;
}

export function drawWeight(el, run) {
  const g = run.grid;
  if (!g.weight) {
    draw(el, [], emptyNote(run.method === 'cpc' ? 'no weight for CPC' : 'waiting for the first frame'));
    return;
  }
  if (g.axes.length === 2) {
    drawMap(el, g.axes, g.weight, { zmin: 0, zmax: 1, colorTitle: 'weight', points: run.points && run.points.data });
    return;
  }
  const xs = g.axes[0];
  const pd = expOf(g.log_pd);
  const top = maxOf(pd);
  draw(el, [
    { type: 'scatter', mode: 'lines', x: xs, y: pd.map(v => (v === null ? null : v / top)), name: 'p_d (scaled): where the data is',
      fill: 'tozeroy', fillcolor: 'rgba(27,27,27,0.08)', line: { color: 'rgba(27,27,27,0.45)', dash: 'dash', width: 1.5 } },
    { type: 'scatter', mode: 'lines', x: xs, y: g.weight, name: 'Nᵣq / (p_θ + Nᵣq)', line: { color: COLORS.self, width: 3 } },
  ], layout({
    legend: legendBelow(),
    xaxis: axis({ range: [xs[0], xs[xs.length - 1]], title: title('x') }),
    yaxis: axis({ range: [0, 1.04], title: title('weight (1 = MLE)') }),
  }));
}

/** E_{p_d}[weight]: how close NCE's gradient is to MLE's where the data is (1 = identical). */
export function weightNote(run) {
  const g = run.grid;
  if (!g.weight || !g.log_pd) return '';
  const w = g.weight.flat();
  const pd = expOf(g.log_pd).flat();
  let num = 0;
  let den = 0;
  w.forEach((v, i) => { if (v !== null && pd[i] !== null) { num += v * pd[i]; den += pd[i]; } });
  return den ? `mean weight under p_d: ${(num / den).toFixed(3)} (→ 1 as Nᵣ → ∞)` : '';
}
