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
let large = false;
let presenting = false;
const sizeNow = () => { fontSize = presenting ? 24 : large ? 16 : 12; };
export function setLargeText(on) { large = on; sizeNow(); }
/** Presenter mode (presenter.js): one panel on the whole screen, its text at 24 px. */
export function setPresenting(on) { presenting = on; sizeNow(); }
export function fontPx() { return fontSize; }
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
  // at the figure's bottom edge (not a fraction of the plot's height, which put it over the x-axis title
  // of a short plot); Plotly grows the bottom margin to hold it
  return { orientation: 'h', x: 0, xanchor: 'left', yref: 'container', y: 0, yanchor: 'bottom', bgcolor: 'rgba(0,0,0,0)' };
}

/** Log axis ticks: every power of ten when the data spans decades; 1, 2, 5 of each decade (every digit
 *  within one decade) when it does not, listed as values, so that every label has the axis' text size
 *  (Plotly's 'D2' ticks print the 2s and 5s at about two thirds of it: 11 px in large text). */
export function logTicks(values) {
  const finite = values.filter(v => v !== null && v > 0 && Number.isFinite(v));
  const span = finite.length ? Math.log10(Math.max(...finite) / Math.min(...finite)) : 0;
  if (span > 3 || !finite.length) return { type: 'log', tickmode: 'linear', dtick: 1, exponentformat: 'power' };
  const low = Math.floor(Math.log10(Math.min(...finite))) - 1;
  const high = Math.ceil(Math.log10(Math.max(...finite))) + 1;
  const digits = span < 0.5 ? [1, 2, 3, 4, 5, 6, 7, 8, 9] : [1, 2, 5];
  const tickvals = [];
  for (let decade = low; decade <= high; decade += 1) for (const d of digits) tickvals.push(Number((d * 10 ** decade).toPrecision(1)));
  return { type: 'log', tickmode: 'array', tickvals, ticktext: tickvals.map(v => String(v)) };
}

export function axis(extra = {}) {
  return { zeroline: false, gridcolor: '#e6eaee', linecolor: '#9aa5b1', automargin: true, ...extra };
}

export function title(text) {
  return { text, font: { size: fontSize } };
}

/** Draw or update in place. Hidden plots are skipped (they are drawn when they are shown). A lesson's
 *  callout on this plot (`el.callout`, an annotation: see panels.js) is kept through every redraw. */
export function draw(el, data, plotLayout) {
  if (!el || el.offsetParent === null || !window.Plotly) return;
  if (el.callout) plotLayout = withCallout(plotLayout, calloutNow(el.callout, el));
  window.Plotly.react(el, data, plotLayout, PLOT_CONFIG);
}

/** The layout with a callout over the plot area: the top margin grows to hold it, so it covers no data. */
export function withCallout(plotLayout, note) {
  const lines = note.text.split('<br>').length;
  const margin = { ...(plotLayout.margin || {}) };
  const top = margin.t ?? 10; // what the plot keeps up there already (e.g. the titles of side-by-side maps)
  margin.t = top + Math.ceil(lines * note.font.size * 1.3) + 14;
  return { ...plotLayout, margin, annotations: [...(plotLayout.annotations || []), { ...note, yshift: Math.max(6, top) }] };
}

/** A callout annotation at the text size in force now (it grows with large text and presenter mode),
 *  its lines wrapped to the width of plot `el` (Plotly never wraps an annotation: it would be cut off). */
export function calloutNow(note, el) {
  const size = fontSize + 1;
  const plotArea = el && el._fullLayout && el._fullLayout._size;
  const width = plotArea ? plotArea.w + plotArea.r : ((el && el.clientWidth) || 600) - 70;
  const most = Math.max(16, Math.floor((width - 16) / (0.6 * size))); // characters per line
  const visible = text => text.replace(/<[^>]+>/g, '').length;
  const lines = [];
  for (const line of note.text.split('<br>')) {
    let current = '';
    for (const word of line.split(' ')) {
      if (current && visible(`${current} ${word}`) > most) { lines.push(current); current = word; }
      else current = current ? `${current} ${word}` : word;
    }
    lines.push(current);
  }
  return { ...note, text: lines.join('<br>'), font: { ...(note.font || {}), size } };
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
