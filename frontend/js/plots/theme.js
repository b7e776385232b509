// Shared look of every plot, and the one drawing call: Plotly.react on a fixed layout with a constant
// uirevision, so frames update in place (no flicker) and the user's zoom and legend clicks survive.

export const COLORS = {
  pd: '#1b1b1b',        // data density: black, dashed
  model: '#0072B2',     // p_θ: blue
  noise: '#E69F00',     // q: orange, dotted
  self: '#D55E00',      // exp(G − log Ẑ): vermillion
  hist: '#b8c2cc',
  good: '#009E73',
  cap: '#C0392B',
};
export const RUN_COLORS = ['#0072B2', '#D55E00', '#009E73'];
export const SEQUENTIAL = 'Viridis';
export const DIVERGING = [[0, '#2166ac'], [0.5, '#f7f7f7'], [1, '#b2182b']];

let fontSize = 12;
export function setLargeText(on) { fontSize = on ? 16 : 12; }
export function font() { return { size: fontSize, family: 'system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif', color: '#16212b' }; }

const PLOT_CONFIG = {
  responsive: true,
  displaylogo: false,
  modeBarButtonsToRemove: ['select2d', 'lasso2d', 'toggleSpikelines', 'hoverClosestCartesian', 'hoverCompareCartesian'],
  toImageButtonOptions: { format: 'png', scale: 2 },
};

/** The common layout, with `extra` merged over it (one level deep for axes, legend and margin). */
export function layout(extra = {}) {
  const base = {
    margin: { l: 56, r: 16, t: 10, b: 42 },
    font: font(),
    paper_bgcolor: '#ffffff',
    plot_bgcolor: '#ffffff',
    uirevision: 'keep',
    hovermode: 'closest',
    showlegend: true,
    legend: { x: 1, xanchor: 'right', y: 1, yanchor: 'top', bgcolor: 'rgba(255,255,255,0.75)', font: { size: fontSize - 1 } },
    xaxis: axis(),
    yaxis: axis(),
  };
  const out = { ...base, ...extra };
  for (const key of ['margin', 'legend', 'xaxis', 'yaxis']) {
    if (extra[key]) out[key] = { ...base[key], ...extra[key] };
  }
  return out;
}

/** A horizontal legend under the x axis (for narrow panels, so it never covers the curves). */
export function legendBelow() {
  return { orientation: 'h', x: 0, xanchor: 'left', y: -0.3, yanchor: 'top', bgcolor: 'rgba(0,0,0,0)' };
}

/** Log axis ticks: every power of ten when the data spans decades, every digit when it does not. */
export function logTicks(values) {
  const finite = values.filter(v => v !== null && v > 0);
  const span = finite.length ? Math.log10(Math.max(...finite) / Math.min(...finite)) : 0;
  if (span > 3) return { type: 'log', tickmode: 'linear', dtick: 1, exponentformat: 'power' };
  return { type: 'log', tickmode: 'linear', dtick: 'D2', minorloglabels: 'complete', exponentformat: 'none' };
}

export function axis(extra = {}) {
  return { zeroline: false, gridcolor: '#e6eaee', linecolor: '#9aa5b1', automargin: true, ...extra };
}

export function title(text) {
  return { text, font: { size: fontSize } };
}

/** Draw or update in place. Hidden plots are skipped (they are drawn when they are shown). */
export function draw(el, data, plotLayout) {
  if (!el || el.offsetParent === null || !window.Plotly) return;
  window.Plotly.react(el, data, plotLayout, PLOT_CONFIG);
}

export function resizeAll(root = document) {
  for (const el of root.querySelectorAll('.js-plotly-plot')) {
    if (el.offsetParent !== null) window.Plotly.Plots.resize(el);
  }
}

const expCache = new WeakMap();

/** exp of a list (or a list of rows) of logs; null stays null. Cached per source array, so arrays that
 *  did not change since the last frame (p_d, q) give the same result object and Plotly skips them. */
export function expOf(values) {
  if (!values) return null;
  if (expCache.has(values)) return expCache.get(values);
  const out = values.map(v => (Array.isArray(v) ? expOf(v) : v === null ? null : Math.exp(v)));
  expCache.set(values, out);
  return out;
}

export function maxOf(values) {
  let best = -Infinity;
  for (const v of values || []) {
    const m = Array.isArray(v) ? maxOf(v) : v;
    if (m !== null && m > best) best = m;
  }
  return best;
}

/** 'lines', or 'markers' while a curve has a single point (a line of one point is invisible). */
export function lineMode(values) {
  return values.filter(v => v !== null).length > 1 ? 'lines' : 'markers';
}

/** A grey note in the middle of a plot (for panels that have nothing to show yet). */
export function emptyNote(text) {
  return layout({
    showlegend: false,
    xaxis: axis({ visible: false }),
    yaxis: axis({ visible: false }),
    annotations: [{ text, showarrow: false, xref: 'paper', yref: 'paper', x: 0.5, y: 0.5, font: { size: fontSize + 1, color: '#5b6873' } }],
  });
}
