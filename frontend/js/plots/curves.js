// Curves over steps (loss, KL): one line per run, from the history the page accumulates.
import { COLORS, axis, draw, emptyNote, layout, lineMode, logTicks, title } from './theme.js';

// KL is a quadrature over the grid's box: at the default 128 cells every preset's p_d integrates to 1
// within 1e-3 (Laplace's cusp: 8.5e-4), so values under this are not resolved (they can even be negative).
export const KL_RESOLUTION = 1e-3;

/** A KL value as text, honest about the quadrature's resolution: "< 1e-3" below it (negatives included). */
export function formatKL(value) {
  if (value === null || value === undefined || !Number.isFinite(value)) return '–';
  return value < KL_RESOLUTION ? '< 1e-3' : value.toPrecision(3);
}

const SMOOTHING = 0.15; // weight of the newest value in the moving average

function ema(values) {
  let avg = null;
  return values.map(v => {
    if (v === null) return avg;
    avg = avg === null ? v : avg + SMOOTHING * (v - avg);
    return avg;
  });
}

/** key: a history column; runs drawn in their own colours (one run: blue, no legend).
 *  smooth: the raw values faintly, with their moving average on top.
 *  floor (log axis): the smallest value that means something; lower ones sit on it, in a shaded band
 *  labelled `floorText`, and their hover says so. hoverNote: a line added to every hover. */
export function drawSeries(el, runs, { key, yTitle, logY = false, floor = 1e-6, floorText = null, smooth = false,
  hoverNote = '' }) {
  const data = [];
  let floored = false;
  for (const run of runs) {
    const cols = run.history.columns('step', key);
    const raw = cols[key];
    let ys = raw;
    if (logY) ys = ys.map(v => (v === null ? null : Math.max(v, floor)));
    if (!ys.some(v => v !== null)) continue;
    floored = floored || (logY && raw.some(v => v !== null && v < floor));
    const color = runs.length > 1 ? run.color : COLORS.model;
    const shown = raw.map(v => (v === null ? '–' : logY && v < floor && floorText ? floorText : v.toPrecision(4)));
    data.push({ type: 'scatter', mode: lineMode(ys), x: cols.step, y: ys, name: smooth ? `${run.label} (raw)` : run.label,
      uid: `${key}-${run.id}`, line: { color, width: smooth ? 1 : 2 }, opacity: smooth ? 0.35 : 1, showlegend: !smooth,
      customdata: shown, hovertemplate: `step %{x}<br>${key} %{customdata}${hoverNote ? `<br>${hoverNote}` : ''}<extra></extra>` });
    if (smooth) {
      data.push({ type: 'scatter', mode: 'lines', x: cols.step, y: ema(ys), name: run.label, uid: `${key}-${run.id}-avg`,
        line: { color, width: 2.5 }, hovertemplate: 'step %{x}<br>average %{y:.4g}<extra></extra>' });
    }
  }
  if (!data.length) {
    const started = runs.some(run => run.history.rows.some(row => row.step > 0));
    draw(el, [], emptyNote(started ? `no ${yTitle} for this method` : 'press Play'));
    return;
  }
  const shapes = [];
  const annotations = [];
  if (floored && floorText) { // the band under the floor: values there are drawn on its edge
    shapes.push({ type: 'rect', xref: 'paper', x0: 0, x1: 1, yref: 'y', y0: floor / 3, y1: floor, layer: 'below',
      fillcolor: 'rgba(154,165,177,0.18)', line: { width: 0 } });
    annotations.push({ name: 'floor', text: `${floorText}: below the quadrature's resolution`, xref: 'paper', x: 0.99,
      xanchor: 'right', yref: 'y', y: Math.log10(floor), yanchor: 'top', showarrow: false, font: { color: '#52606d' } });
  }
  const values = data.flatMap(d => d.y);
  draw(el, data, layout({
    shapes,
    annotations,
    showlegend: runs.length > 1,
    xaxis: axis({ title: title('step'), rangemode: 'tozero' }),
    yaxis: axis({ title: title(yTitle), ...(logY ? logTicks(floored && floorText ? [...values, floor / 3] : values) : {}) }),
  }));
}
