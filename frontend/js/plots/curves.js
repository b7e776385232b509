// Curves over steps (loss, KL): one line per run, from the history the page accumulates.
import { COLORS, axis, draw, emptyNote, layout, lineMode, logTicks, title } from './theme.js';

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
 *  smooth: the raw values faintly, with their moving average on top. */
export function drawSeries(el, runs, { key, yTitle, logY = false, floor = 1e-6, smooth = false }) {
  const data = [];
  for (const run of runs) {
    const cols = run.history.columns('step', key);
    let ys = cols[key];
    if (logY) ys = ys.map(v => (v === null ? null : Math.max(v, floor)));
    if (!ys.some(v => v !== null)) continue;
    const color = runs.length > 1 ? run.color : COLORS.model;
    data.push({ type: 'scatter', mode: lineMode(ys), x: cols.step, y: ys, name: smooth ? `${run.label} (raw)` : run.label,
      uid: `${key}-${run.id}`, line: { color, width: smooth ? 1 : 2 }, opacity: smooth ? 0.35 : 1, showlegend: !smooth });
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
  draw(el, data, layout({
    showlegend: runs.length > 1,
    xaxis: axis({ title: title('step'), rangemode: 'tozero' }),
    yaxis: axis({ title: title(yTitle), ...(logY ? logTicks(data.flatMap(d => d.y)) : {}) }),
  }));
}
