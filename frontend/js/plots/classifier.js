// NCE as a classifier: P(C=1|x) = σ(h), h = G − log Ẑ − log q − log Nᵣ (the log-odds), against the
// Bayes-optimal p_d / (p_d + Nᵣ q) the classifier converges to.
import { COLORS, DIVERGING, axis, draw, emptyNote, layout, legendBelow, title } from './theme.js';
import { drawMap } from './density2d.js';

const sigmoid = h => 1 / (1 + Math.exp(-h));
const LOGIT_CLIP = 20;

export function drawClassifier(el, run) {
  const g = run.grid;
  const nr = (run.config || {}).nr || 1;
  if (!g.posterior) {
    draw(el, [], emptyNote('waiting for the first frame'));
    return;
  }
  const logNr = Math.log(nr);
  const clip = v => Math.max(-LOGIT_CLIP, Math.min(LOGIT_CLIP, v));
  const odds = (self, q) => self.map((v, i) => (Array.isArray(v) ? odds(v, q[i]) : v === null || q[i] === null ? null : clip(v - q[i] - logNr)));
  const logOdds = g.log_p_self && g.log_q ? odds(g.log_p_self, g.log_q) : null;
  if (g.axes.length === 2) {
    drawMap(el, g.axes, g.posterior, { zmin: 0, zmax: 1, colorscale: DIVERGING, colorTitle: 'P(C=1|x)',
      points: run.points && run.points.data, extra: logOdds ? { label: 'log-odds h', values: logOdds } : null });
    return;
  }
  const xs = g.axes[0];
  const bayes = g.log_pd && g.log_q
    ? g.log_pd.map((v, i) => (v === null || g.log_q[i] === null ? null : sigmoid(clip(v - g.log_q[i] - logNr)))) : null;
  const data = [
    { type: 'scatter', mode: 'lines', x: xs, y: g.posterior, name: 'P(C=1|x) = σ(h), the model', line: { color: COLORS.model, width: 3 } },
  ];
  if (bayes) {
    data.push({ type: 'scatter', mode: 'lines', x: xs, y: bayes, name: 'p_d / (p_d + Nᵣq), the target',
      line: { color: COLORS.pd, width: 2, dash: 'dash' } });
  }
  if (logOdds) {
    data.push({ type: 'scatter', mode: 'lines', x: xs, y: logOdds, name: 'log-odds h(x) (right)', yaxis: 'y2',
      line: { color: COLORS.good, width: 1.8, dash: 'dot' } });
  }
  draw(el, data, layout({
    margin: { r: 50 },
    legend: legendBelow(),
    xaxis: axis({ range: [xs[0], xs[xs.length - 1]], title: title('x') }),
    yaxis: axis({ range: [0, 1.04], title: title('P(C = 1 | x)') }),
    yaxis2: axis({ overlaying: 'y', side: 'right', showgrid: false, title: { ...title('log-odds h(x)'), font: { color: COLORS.good } },
      tickfont: { color: COLORS.good }, tickmode: 'auto', nticks: 6, zeroline: true, zerolinecolor: '#c9d1d8' }),
  }));
}

export function classifierNote(run) {
  const nr = (run.config || {}).nr;
  const hover = run.grid && run.grid.axes && run.grid.axes.length === 2 ? ' (hover a cell for its h)' : '';
  return nr ? `data vs Nᵣ = ${nr} × noise: log-odds h = G − log Ẑ − log q − log Nᵣ${hover}` : '';
}
