// 2-D density panel: heatmaps of the learned p_θ beside the data density p_d on one colour scale,
// with data and noise points (toggleable) on the model maps and q's contours on the data map.
// Compare mode: one p_θ map per run, then p_d. The points are small, translucent and thinned, so the
// density under them stays readable. Any map opens large in a dialog (its button, or a click on the
// map); it keeps updating while open, and Escape closes it.
import { COLORS, SEQUENTIAL, axis, draw, expOf, layout, maxOf } from './theme.js';

const LOG_RANGE = 8; // log-scale maps show the top 8 nats
// points drawn per small map (frames carry 256 of each); the enlarged map shows them all, larger
const SMALL_POINTS = { data: 160, noise: 96, size: 3, scale: 1 };
const LARGE_POINTS = { data: Infinity, noise: Infinity, size: 5, scale: 1.6 };

/** Every k-th point, so that at most `most` remain: [xs, ys] -> [xs, ys]. */
export function thin(columns, most) {
  const [xs, ys] = columns;
  if (!Number.isFinite(most) || xs.length <= most) return [xs, ys];
  const every = Math.ceil(xs.length / most);
  const keep = (_, i) => i % every === 0;
  return [xs.filter(keep), ys.filter(keep)];
}

/** Explicit contour levels (Plotly's automatic ones are lost on react when the data is unchanged). */
export function levels(z, count = 5) {
  const top = maxOf(z);
  return { autocontour: false, contours: { coloring: 'lines', start: top / (count + 1), end: top * count / (count + 1), size: top / (count + 1) } };
}

function logClip(rows, floor) {
  return rows.map(row => row.map(v => (v === null ? null : Math.max(v, floor))));
}

/** Heatmap subplots: panels = [{title, z (rows), points?, contour?}] sharing one colour axis. */
function drawMaps(el, axes, panels, { cmin, cmax, colorTitle, showData, showNoise, look = SMALL_POINTS }) {
  const [xs, ys] = axes;
  const count = panels.length;
  const gap = 0.05;
  const span = (0.93 - gap * (count - 1)) / count;
  const data = [];
  const extra = { annotations: [], showlegend: true, hovermode: 'closest',
    coloraxis: { colorscale: SEQUENTIAL, cmin, cmax, colorbar: { title: { text: colorTitle, side: 'right' }, thickness: 12, len: 0.9, x: 1.0 } },
    legend: { orientation: 'h', x: 0, xanchor: 'left', y: -0.13, yanchor: 'top', bgcolor: 'rgba(0,0,0,0)' } };
  const points = []; // drawn last, so toggling them never shifts the maps' trace indices
  panels.forEach((panel, i) => {
    const suffix = i === 0 ? '' : String(i + 1);
    const on = { xaxis: `x${suffix}`, yaxis: `y${suffix}` };
    data.push({ type: 'heatmap', x: xs, y: ys, z: panel.z, coloraxis: 'coloraxis', zsmooth: 'best', showlegend: false, uid: `map-${i}`,
      name: panel.title, hovertemplate: 'x %{x:.2f}, y %{y:.2f}<br>%{z:.3g}<extra></extra>', ...on });
    if (panel.contour) {
      data.push({ type: 'contour', x: xs, y: ys, z: panel.contour, name: 'q (noise) contours', showscale: false, uid: `q-${i}`,
        ...levels(panel.contour), line: { color: COLORS.noise, width: 1.5, dash: 'dot' },
        colorscale: [[0, COLORS.noise], [1, COLORS.noise]], hoverinfo: 'skip', showlegend: true, ...on });
    }
    if (panel.points && showData && panel.points.data) {
      const [x, y] = thin(panel.points.data, look.data);
      points.push({ type: 'scatter', mode: 'markers', x, y, name: 'data samples',
        marker: { size: look.size, color: '#ffffff', opacity: 0.6, line: { width: 0.4, color: '#1b1b1b' } }, legendgroup: 'data',
        showlegend: i === 0, hoverinfo: 'skip', uid: `data-${i}`, ...on });
    }
    if (panel.points && showNoise && panel.points.noise) {
      const [x, y] = thin(panel.points.noise, look.noise);
      points.push({ type: 'scatter', mode: 'markers', x, y, name: 'noise samples',
        marker: { size: look.size + 0.5, symbol: 'x-thin-open', color: COLORS.noise, opacity: 0.45, line: { width: look.scale, color: COLORS.noise } },
        legendgroup: 'noise', showlegend: i === 0, hoverinfo: 'skip', uid: `noise-${i}`, ...on });
    }
    const domain = [i * (span + gap), i * (span + gap) + span];
    extra[`xaxis${suffix}`] = axis({ domain, range: [xs[0], xs[xs.length - 1]], anchor: `y${suffix}`, constrain: 'domain', showgrid: false });
    extra[`yaxis${suffix}`] = axis({ range: [ys[0], ys[ys.length - 1]], anchor: `x${suffix}`, scaleanchor: `x${suffix}`,
      constrain: 'domain', showgrid: false });
    extra.annotations.push({ text: `<b>${panel.title}</b>`, xref: `x${suffix} domain`, yref: 'paper', x: 0.5, y: 1,
      yanchor: 'bottom', showarrow: false, font: { color: panel.color || '#16212b' } });
  });
  data.push(...points);
  draw(el, data, layout({ ...extra, margin: { t: 24, b: 8, l: 36, r: 8 } }));
}

export function drawDensity2d(el, runs, opts) {
  const main = runs[0];
  const axes = main.grid.axes;
  const pdTop = maxOf(expOf(main.grid.log_pd));
  const model = run => (opts.logScale ? logClip(run.grid.log_p, Math.log(pdTop) - LOG_RANGE) : expOf(run.grid.log_p));
  const panels = runs.map(run => ({
    title: runs.length > 1 ? `p_θ ${run.label}` : 'p_θ (model)', z: model(run), points: run.points, color: runs.length > 1 ? run.color : null,
  }));
  panels.push({
    title: 'p_d (data)',
    z: opts.logScale ? logClip(main.grid.log_pd, Math.log(pdTop) - LOG_RANGE) : expOf(main.grid.log_pd),
    contour: main.grid.log_q && runs.length === 1 ? expOf(main.grid.log_q) : null,
  });
  const scale = opts.logScale
    ? { cmin: Math.log(pdTop) - LOG_RANGE, cmax: Math.log(pdTop), colorTitle: 'log p' }
    : { cmin: 0, cmax: pdTop * 1.05, colorTitle: 'density' };
  const style = { ...scale, showData: opts.showData, showNoise: opts.showNoise };
  drawMaps(el, axes, panels, style);
  enlargeButtons(el, axes, panels, style);
  if (zoom.el === el && zoom.dialog && zoom.dialog.open) {
    if (zoom.index < panels.length) drawZoom(axes, panels[zoom.index], style);
    else zoom.dialog.close();
  }
}

// ---------------------------------------------------------------- one map, large

const zoom = { el: null, index: 0, dialog: null, plot: null, title: null };

function zoomDialog() {
  if (zoom.dialog) return zoom.dialog;
  const dialog = document.createElement('dialog');
  dialog.className = 'map-zoom';
  dialog.dataset.testid = 'map-zoom';
  dialog.setAttribute('aria-labelledby', 'map-zoom-title');
  const header = document.createElement('header');
  const title = document.createElement('h2');
  title.id = 'map-zoom-title';
  const close = document.createElement('button');
  close.type = 'button';
  close.className = 'close';
  close.dataset.testid = 'map-zoom-close';
  close.setAttribute('aria-label', 'Close the large map (Escape)');
  close.textContent = '×';
  close.addEventListener('click', () => dialog.close());
  header.append(title, close);
  const plot = document.createElement('div');
  plot.className = 'map-zoom-plot';
  plot.dataset.testid = 'map-zoom-plot';
  const body = document.createElement('div');
  body.className = 'map-zoom-body';
  body.append(header, plot);
  dialog.append(body);
  dialog.addEventListener('click', event => { if (event.target === dialog) dialog.close(); }); // the backdrop
  dialog.addEventListener('close', () => {
    if (window.Plotly) window.Plotly.purge(plot);
    const opener = zoom.el && zoom.el.parentElement && zoom.el.parentElement.querySelector(`[data-map="${zoom.index}"]`);
    zoom.el = null;
    if (opener) opener.focus();
  });
  document.body.append(dialog);
  Object.assign(zoom, { dialog, plot, title });
  return dialog;
}

function drawZoom(axes, panel, style) {
  const text = `${panel.title} — enlarged (Escape closes)`;
  if (zoom.title.textContent !== text) zoom.title.textContent = text;
  drawMaps(zoom.plot, axes, [panel], { ...style, look: LARGE_POINTS });
}

/** Open map `index` of the density panel `el` large. */
export function openZoom(el, index) {
  const dialog = zoomDialog();
  zoom.el = el;
  zoom.index = index;
  if (!dialog.open) dialog.showModal();
  const drawn = el.__maps;
  if (drawn && drawn.panels[index]) drawZoom(drawn.axes, drawn.panels[index], drawn.style);
}

/** One small "enlarge" button per map, under the panel (rebuilt only when the maps change). */
const isMaps = el => (el.data || []).some(trace => trace.type === 'heatmap');

function enlargeButtons(el, axes, panels, style) {
  el.__maps = { axes, panels, style };
  if (!el.on) return; // not drawn (hidden): Plotly has not made it a plot yet
  const card = el.parentElement;
  let bar = card.querySelector(':scope > .map-enlarge');
  if (!bar) {
    bar = document.createElement('div');
    bar.className = 'map-enlarge';
    bar.setAttribute('role', 'group');
    bar.setAttribute('aria-label', 'Enlarge a map');
    el.after(bar);
    el.on('plotly_click', event => {  // a click on a map opens it large
      const point = event && event.points && event.points[0];
      const axisName = point && point.data && point.data.xaxis;
      if (axisName && isMaps(el)) openZoom(el, axisName === 'x' ? 0 : Number(axisName.slice(1)) - 1);
    });
    // the buttons belong to the 2-D view only: a redraw without maps (1-D data) hides them
    el.on('plotly_afterplot', () => { if (bar.hidden === isMaps(el)) bar.hidden = !isMaps(el); });
  }
  bar.hidden = false;
  const titles = panels.map(p => p.title).join('|');
  if (bar.dataset.titles === titles) return;
  bar.dataset.titles = titles;
  bar.replaceChildren(...panels.map((panel, i) => {
    const button = document.createElement('button');
    button.type = 'button';
    button.dataset.map = String(i);
    button.dataset.testid = `enlarge-map-${i}`;
    button.title = `Show ${panel.title} large (Escape closes)`;
    button.textContent = `⤢ ${panel.title}`;
    button.addEventListener('click', () => openZoom(el, i));
    return button;
  }));
}

/** A single heatmap over the grid (weight, posterior, critic), with optional data points. */
export function drawMap(el, axes, z, { zmin, zmax, colorscale = SEQUENTIAL, colorTitle = '', points = null, contour = null,
  extra = null }) {
  const [xs, ys] = axes;
  const hover = `x %{x:.2f}, y %{y:.2f}<br>${colorTitle} %{z:.3g}${extra ? `<br>${extra.label} %{customdata:.3g}` : ''}<extra></extra>`;
  const data = [{ type: 'heatmap', x: xs, y: ys, z, zmin, zmax, colorscale, zsmooth: 'best', uid: 'map',
    customdata: extra ? extra.values : undefined,
    colorbar: { title: { text: colorTitle, side: 'right' }, thickness: 12 }, hovertemplate: hover }];
  if (contour) {
    data.push({ type: 'contour', x: xs, y: ys, z: contour, showscale: false, ...levels(contour), uid: 'contour',
      colorscale: [[0, '#ffffff'], [1, '#ffffff']], line: { width: 1, color: '#ffffff' }, hoverinfo: 'skip', name: 'p_d contours' });
  }
  if (points) {
    data.push({ type: 'scatter', mode: 'markers', x: points[0], y: points[1], name: 'data samples', hoverinfo: 'skip', uid: 'points',
      marker: { size: 3, color: '#ffffff', line: { width: 0.5, color: '#1b1b1b' } } });
  }
  draw(el, data, layout({
    showlegend: false, margin: { t: 8, b: 36, l: 44, r: 8 },
    xaxis: axis({ range: [xs[0], xs[xs.length - 1]], constrain: 'domain', showgrid: false, title: { text: 'x' } }),
    yaxis: axis({ range: [ys[0], ys[ys.length - 1]], scaleanchor: 'x', constrain: 'domain', showgrid: false, title: { text: 'y' } }),
  }));
}
