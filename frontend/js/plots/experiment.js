// The Experiments view's plot: measured points (markers with their 95% interval as error bars) over the
// theory curves (lines), one colour per series — a noise q (efficiency, ranking) or a batch size B
// (cpc_ceiling, with its log B cap dashed). nr_budget has no theory: final KL with its bars, and the
// seconds per training step on a second y axis (the trade-off). Updated in place as points arrive.
import { axis, draw, emptyNote, layout, logTicks, title } from './theme.js';
import { noiseName } from '../experiments-form.js';

export const SERIES_COLORS = ['#0072B2', '#D55E00', '#009E73', '#CC79A7', '#E69F00', '#56B4E9', '#1b1b1b', '#8E6C8A'];
const LOG_Y = new Set(['efficiency', 'ranking']); // a ratio from ~1 to ~100
const fmt = v => (v === null || v === undefined ? '–' : Number(v).toPrecision(3));

function errorBars(points, color) {
  return {
    type: 'data', symmetric: false, visible: true, color, thickness: 1.5, width: 5,
    array: points.map(p => (p.ci ? p.ci[1] - p.measured : 0)),
    arrayminus: points.map(p => (p.ci ? p.measured - p.ci[0] : 0)),
  };
}

/** Theory curves and points grouped by series, in the order the server sent them. */
function seriesOf(state, axisKey) {
  const cpc = state.experiment === 'cpc_ceiling';
  const groups = new Map();
  const group = item => {
    const key = cpc ? `B${item.batch_size}` : item.label;
    if (!groups.has(key)) {
      const name = cpc ? `B = ${item.batch_size}` : noiseName(item.noise, item.label);
      groups.set(key, { key, name, curve: null, points: [], cap: item.cap ?? null });
    }
    return groups.get(key);
  };
  for (const curve of state.theory || []) group(curve).curve = curve;
  for (const point of state.points || []) group(point).points.push(point);
  for (const g of groups.values()) g.points.sort((a, b) => a[axisKey] - b[axisKey]);
  return [...groups.values()];
}

/** Markers with error bars; shift(x) moves them a little sideways so that series do not hide each other. */
function measuredTrace(id, points, axisKey, color, name, { shift = x => x, ...extra } = {}) {
  return {
    uid: id, type: 'scatter', mode: 'markers', name, x: points.map(p => shift(p[axisKey])), y: points.map(p => p.measured),
    error_y: errorBars(points, color), marker: { color, size: 8, line: { color: '#ffffff', width: 1 } },
    customdata: points.map(p => [p.ci ? fmt(p.ci[0]) : '–', p.ci ? fmt(p.ci[1]) : '–', fmt(p.theory), p.reps, p.failed || 0,
      p[axisKey], fmt(p.mle_baseline)]),
    hovertemplate: `${name}<br>%{customdata[5]}: measured %{y:.3g} [%{customdata[0]}, %{customdata[1]}]<br>`
      + 'theory %{customdata[2]} · %{customdata[3]} reps, %{customdata[4]} failed'
      + `${points.some(p => p.mle_baseline !== undefined) ? '<br>MLE on the same data: %{customdata[6]}' : ''}<extra></extra>`,
    ...extra,
  };
}

/** Sideways offsets for series i of n: a fraction of the axis span (in decades on a log axis). */
function dodger(i, n, lo, hi, logX) {
  const step = 0.006 * (i - (n - 1) / 2);
  if (n < 2 || !(hi > lo)) return x => x;
  return logX ? x => x * 10 ** (step * Math.log10(hi / lo)) : x => x + step * (hi - lo);
}

function budgetTraces(state) {
  const points = [...state.points].sort((a, b) => a.nr - b.nr);
  const x = points.map(p => p.nr);
  const kl = measuredTrace('measured-0', points, 'nr', SERIES_COLORS[0], 'KL(p_d ‖ p_θ) at the end', {
    mode: 'lines+markers', line: { color: SERIES_COLORS[0], width: 1.5 },
    customdata: points.map(p => [fmt(p.ci && p.ci[0]), fmt(p.ci && p.ci[1]), fmt(p.z_gap), p.reps, p.negatives_per_step]),
    hovertemplate: 'Nᵣ %{x}: KL %{y:.3g} [%{customdata[0]}, %{customdata[1]}]<br>|log Ẑ − log Z| %{customdata[2]} · '
      + '%{customdata[3]} seeds · %{customdata[4]} noise points per step<extra></extra>',
  });
  const seconds = {
    uid: 'seconds-0', type: 'scatter', mode: 'lines+markers', yaxis: 'y2', name: 'milliseconds per step (right axis)', x,
    y: points.map(p => (p.seconds_per_step === null || p.seconds_per_step === undefined ? null : 1000 * p.seconds_per_step)),
    line: { color: SERIES_COLORS[1], width: 1.5, dash: 'dash' }, marker: { color: SERIES_COLORS[1], size: 7, symbol: 'square' },
    hovertemplate: 'Nᵣ %{x}: %{y:.3g} ms per step<extra></extra>',
  };
  return [kl, seconds];
}

function seriesTraces(state, axisKey, logX) {
  const data = [];
  const xs = [...(state.points || []).map(p => p[axisKey]), ...(state.theory || []).flatMap(c => c.x)];
  const lo = Math.min(...xs);
  const hi = Math.max(...xs);
  const cpc = state.experiment === 'cpc_ceiling';
  if (cpc && xs.length) {
    data.push({ uid: 'identity', type: 'scatter', mode: 'lines', x: [Math.max(0, lo), hi], y: [Math.max(0, lo), hi],
      name: 'true MI (y = x)', line: { color: '#8a949e', width: 1, dash: 'dot' }, hoverinfo: 'skip' });
  }
  const series = seriesOf(state, axisKey);
  series.forEach((s, i) => {
    const color = SERIES_COLORS[i % SERIES_COLORS.length];
    if (s.curve) {
      data.push({ uid: `theory-${i}`, type: 'scatter', mode: 'lines', x: s.curve.x, y: s.curve.y, name: `${s.name}: theory`,
        legendgroup: s.key, showlegend: false, line: { color, width: 2 }, opacity: 0.85,
        hovertemplate: `${s.name}<br>theory at %{x:.3g}: %{y:.3g}<extra></extra>` });
    }
    if (cpc && s.cap !== null && xs.length) {
      data.push({ uid: `cap-${i}`, type: 'scatter', mode: 'lines', x: [lo, hi], y: [s.cap, s.cap], name: `log ${s.name.slice(4)} = ${fmt(s.cap)}`,
        legendgroup: s.key, showlegend: false, line: { color, width: 1.5, dash: 'dash' },
        hovertemplate: `the ceiling log B = ${fmt(s.cap)} (B = ${s.name.slice(4)})<extra></extra>` });
    }
    const shift = dodger(i, series.length, lo, hi, logX);
    data.push(measuredTrace(`measured-${i}`, s.points, axisKey, color, s.name, { legendgroup: s.key, shift }));
  });
  return data;
}

/** state: the sweep (see sweep.js) or null; spec: its schema.experiments entry; idle: the empty note. */
export function drawExperiment(el, state, spec, idle = 'press Run') {
  const waiting = !state || (!state.points.length && !(state.theory || []).length);
  if (waiting) {
    draw(el, [], emptyNote(state ? 'waiting for the first point…' : idle));
    return;
  }
  const axisKey = spec.axis;
  const budget = state.experiment === 'nr_budget';
  const data = budget ? budgetTraces(state) : seriesTraces(state, axisKey, spec.log_x);
  const xs = data.flatMap(t => t.x || []);
  draw(el, data, layout({
    uirevision: `${state.experiment}-${state.id}`,
    margin: { l: 64, r: budget ? 64 : 16, t: budget ? 34 : 10, b: 46 },
    legend: budget ? { orientation: 'h', x: 0, xanchor: 'left', y: 1.01, yanchor: 'bottom', bgcolor: 'rgba(0,0,0,0)' }
      : { x: 1.01, xanchor: 'left', y: 1, yanchor: 'top', bgcolor: 'rgba(0,0,0,0)' },
    xaxis: axis({ title: title(spec.axis_label), ...(spec.log_x ? logTicks(xs) : {}) }),
    yaxis: axis({ title: title(spec.measured_label), ...(LOG_Y.has(state.experiment) ? { type: 'log' } : {}),
      ...(budget ? { rangemode: 'tozero' } : {}) }),
    ...(budget ? { yaxis2: axis({ title: title('milliseconds per step'), overlaying: 'y', side: 'right', showgrid: false,
      rangemode: 'tozero', tickmode: 'auto' }) } : {}),
  }));
}
