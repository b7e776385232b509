// Export a run: JSON (config + history + final state, shaped like the CLI's RESULT.json), CSV (the
// history) and PNG (through Plotly); and an experiment's sweep the same three ways.
// For slides and handouts: a PNG of any panel, one PNG of the whole dashboard (the panels' images
// composed as laid out on the page, under a title line with the config), and a standalone HTML
// report (panels as PNG data URLs, the config and the final numbers as tables). The report embeds
// images rather than live figures: the Plotly bundle is ~4.8 MB, and a file with no script at all
// opens anywhere (offline, in a mail or a course page that blocks scripts) and prints as it looks.
// No export carries the page's access token (?token=...): a file travels further than the room.
import { formatKL } from './plots/curves.js';

export const ASK_FOR_LINK = 'this server needs an access token, which this file leaves out: ask your instructor for the link';

/** The page's link made fit for a file: without its access token (the key to the server, however its
 *  name is spelled in the query). {link, tokenRemoved}. */
export function exportLink(link) {
  if (!link) return { link: link ?? null, tokenRemoved: false };
  let url;
  try { url = new URL(link, window.location.origin); } catch { return { link: null, tokenRemoved: false }; }
  if (!url.searchParams.has('token')) return { link, tokenRemoved: false };
  url.searchParams.delete('token');
  return { link: url.toString(), tokenRemoved: true };
}

/** The `link` fields of an exported JSON document: the token-free link, and why it alone may not open. */
function linkFields(pageLink) {
  const { link, tokenRemoved } = exportLink(pageLink);
  return tokenRemoved ? { link, link_note: ASK_FOR_LINK } : { link };
}

function flat(values) {
  return values && Array.isArray(values[0]) ? values.flat() : values;
}

/** The RESULT.json-like document of one run. */
export function runDocument(run) {
  const f = run.frame || {};
  const g = run.grid || {};
  const grad = run.grad;
  return {
    label: run.label,
    config: run.config,
    config_rev: run.configRev,
    device: f.device ?? null,
    steps_per_s: f.steps_per_s ?? null,
    state: run.status.state,
    message: run.status.message,
    p_d: f.p_d ?? null,
    history: run.history.rows,
    final: {
      step: f.step ?? null,
      log_z_est: f.log_z_est ?? null,
      log_z_true: f.log_z_true ?? null,
      kl: f.kl ?? null,
      mi_estimate: f.mi_estimate ?? null,
      mi_true: f.mi_true ?? null,
      grid: g.axes ? { axes: g.axes, log_p: flat(g.log_p) ?? null, ...(g.critic ? { critic: flat(g.critic) } : {}) } : null,
      grad: grad ? { nr: grad.nr, cos: grad.cos, norm_ratio: grad.norm_ratio } : null,
    },
  };
}

/** Save `content` (text, bytes or a Blob) under `filename`. */
export function download(filename, type, content) {
  const url = URL.createObjectURL(content instanceof Blob ? content : new Blob([content], { type }));
  const a = document.createElement('a');
  a.href = url;
  a.download = filename;
  a.rel = 'noopener';
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

function baseName(run) {
  const c = run.config || {};
  const step = run.frame ? run.frame.step : 0;
  return `nce-playground-${c.method || 'run'}-${c.method === 'cpc' ? 'pairs' : c.data || 'data'}-step${step}`;
}

export function exportJSON(runs, link) {
  const [main, ...others] = runs;
  const doc = { ...runDocument(main), ...linkFields(link), exported_at: new Date().toISOString() };
  if (others.length) doc.compare_runs = others.map(runDocument);
  download(`${baseName(main)}.json`, 'application/json', `${JSON.stringify(doc, null, 1)}\n`);
}

export function exportCSV(runs) {
  const [main] = runs;
  if (runs.length === 1) {
    download(`${baseName(main)}.csv`, 'text/csv', main.history.toCSV());
    return;
  }
  const parts = runs.map((run, i) => {
    const lines = run.history.toCSV().trimEnd().split('\n');
    return lines.map((line, j) => (j === 0 ? (i === 0 ? `run,${line}` : null) : `${run.label},${line}`)).filter(l => l !== null);
  });
  download(`${baseName(main)}-compare.csv`, 'text/csv', `${parts.flat().join('\n')}\n`);
}

export function exportPNG(plotEl, run) {
  if (!window.Plotly || !plotEl || !plotEl.data) return Promise.reject(new Error('the plot is not drawn yet'));
  return window.Plotly.downloadImage(plotEl, { format: 'png', scale: 2, filename: `${baseName(run)}-density` });
}

// ---------------------------------------------------------------- experiments (sweeps)

const csvCell = v => (v === null || v === undefined ? '' : /[",\n]/.test(String(v)) ? `"${String(v).replace(/"/g, '""')}"` : String(v));
const sweepName = doc => `nce-playground-experiment-${doc.experiment}`;

/** The sweep as SWEEP_RESULT.json: the `sweep_done` result, or what has arrived so far (complete: false). */
export function sweepDocument(state) {
  if (state.result) return state.result;
  return { experiment: state.experiment, config: state.config, models: state.models, complete: false,
    points: state.points, theory_curves: state.theory };
}

export function exportSweepJSON(state, link) {
  const doc = { ...sweepDocument(state), ...linkFields(link), exported_at: new Date().toISOString() };
  download(`${sweepName(doc)}.json`, 'application/json', `${JSON.stringify(doc, null, 1)}\n`);
}

/** One row per point: axis value, series (noise label or batch size), measured, its CI, theory, reps, extras. */
export function sweepCSV(state, axisKey) {
  const extras = {
    efficiency: ['bias', 'mle_baseline', 'measured_c', 'theory_c', 'bias_c'], ranking: ['bias', 'mle_baseline'], cpc_ceiling: ['cap', 'seconds_per_step'],
    nr_budget: ['z_gap', 'seconds_per_step', 'negatives_per_step'],
  }[state.experiment] || [];
  const series = p => (p.batch_size !== undefined && state.experiment === 'cpc_ceiling' ? `B=${p.batch_size}` : p.label ?? '');
  const head = [axisKey, 'series', 'measured', 'ci_low', 'ci_high', 'theory', 'reps', 'failed', ...extras];
  const rows = state.points.map(p => [p[axisKey], series(p), p.measured, p.ci ? p.ci[0] : null, p.ci ? p.ci[1] : null,
    p.theory, p.reps, p.failed, ...extras.map(k => p[k])]);
  return `${[head, ...rows].map(r => r.map(csvCell).join(',')).join('\n')}\n`;
}

export function exportSweepCSV(state, axisKey) {
  download(`${sweepName(state)}.csv`, 'text/csv', sweepCSV(state, axisKey));
}

export function exportSweepPNG(plotEl, state) {
  if (!window.Plotly || !plotEl || !plotEl.data) return Promise.reject(new Error('the plot is not drawn yet'));
  return window.Plotly.downloadImage(plotEl, { format: 'png', scale: 2, width: 1200, height: 640, filename: sweepName(state) });
}

// ---------------------------------------------------------------- slides and handouts

const PNG_SCALE = 2;
const esc = value => String(value ?? '').replace(/[&<>"']/g, c => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);

/** The bytes of a base64 data URL. */
export function dataUrlBytes(url) {
  const text = atob(url.slice(url.indexOf(',') + 1));
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i += 1) bytes[i] = text.charCodeAt(i);
  return bytes;
}

/** A drawn plot as a PNG data URL, at its size on the page times `scale`. */
export function plotImage(el, scale = PNG_SCALE) {
  if (!window.Plotly || !el || !el.data) return Promise.reject(new Error('the plot is not drawn yet'));
  const box = el.getBoundingClientRect();
  return window.Plotly.toImage(el, { format: 'png', scale, width: Math.round(box.width), height: Math.round(box.height) });
}

/** A panel's title as plain text (subscripts as _x: "KL(p_d ‖ p_θ)"). */
export function panelTitle(card) {
  const h2 = card.querySelector('h2');
  if (!h2) return card.id.replace(/^card-/, '');
  const copy = h2.cloneNode(true);
  for (const sub of copy.querySelectorAll('sub')) sub.textContent = `_${sub.textContent}`;
  return copy.textContent.replace(/\s+/g, ' ').trim();
}

/** One line naming the run: method(s), data, noise, N_r or k, model, batch, lr, seed, step. */
export function configLine(runs) {
  const main = runs[0];
  const c = main.config || main.desired || {};
  const f = main.frame || {};
  const methods = runs.length > 1 ? runs.map(r => r.label).join(' vs ') : (c.method || '').toUpperCase().replace('INFONCE', 'InfoNCE');
  const parts = [methods];
  if (c.method === 'cpc') {
    parts.push(`true MI ${c.mi} nats`, `batch ${c.batch_size}`);
  } else {
    parts.push(`data ${c.data === 'custom' ? 'your CSV' : c.data}`);
    if (runs.some(r => (r.config || {}).method !== 'mle')) {
      parts.push(`q ${c.noise}${c.noise_fit ? ' (fitted to the data)' : `(${c.noise_loc}, ${c.noise_scale})`}`);
    }
    if (runs.some(r => (r.config || {}).method === 'nce')) parts.push(`N_r ${c.nr}`);
    if (runs.some(r => (r.config || {}).method === 'infonce')) parts.push(`k ${c.k}`);
    parts.push(`batch ${c.batch_size}`);
  }
  parts.push(c.model === 'gaussian' ? 'Gaussian model' : `MLP ${c.depth}×${c.hidden}`, `lr ${c.lr}`, `seed ${c.seed}`,
    `step ${f.step ?? 0}${c.steps ? ` of ${c.steps}` : ''}`);
  return parts.join(' · ');
}

/** Draw every panel the method shows, on screen or not (the page draws only what is in view). */
function drawEveryPanel(panels, runs) {
  const inView = new Set(panels.onScreen);
  for (const [name, card] of Object.entries(panels.cards)) if (!card.hidden) panels.onScreen.add(name);
  panels.drawnAt = {};
  panels.render(runs);
  panels.onScreen.clear();
  for (const name of inView) panels.onScreen.add(name);
}

/** The shown panels, in page order: [{name, card, plot, title, note}]. */
function shownPanels(panels) {
  return Object.entries(panels.cards)
    .filter(([name, card]) => !card.hidden && panels.plots[name] && panels.plots[name].data)
    .map(([name, card]) => ({ name, card, plot: panels.plots[name], title: panelTitle(card),
      note: panels.notes[name] ? panels.notes[name].textContent.trim() : '' }))
    .sort((a, b) => {
      const ra = a.card.getBoundingClientRect();
      const rb = b.card.getBoundingClientRect();
      return ra.top - rb.top || ra.left - rb.left;
    });
}

export async function exportPanelPNG(name, panels, runs) {
  const url = await plotImage(panels.plots[name]);
  download(`${baseName(runs[0])}-${name}.png`, 'image/png', dataUrlBytes(url));
}

function loadImage(url) {
  const img = new Image();
  img.src = url;
  return img.decode().then(() => img);
}

function fitText(ctx, text, width) {
  if (ctx.measureText(text).width <= width) return text;
  let cut = text;
  while (cut.length > 1 && ctx.measureText(`${cut}…`).width > width) cut = cut.slice(0, -1);
  return `${cut}…`;
}

/** Every shown panel as laid out on the page, on one canvas under a title line; resolves to a PNG Blob. */
export async function dashboardPNG(panels, runs) {
  drawEveryPanel(panels, runs);
  const shown = shownPanels(panels);
  if (!shown.length) throw new Error('no panel is drawn yet');
  const images = await Promise.all(shown.map(p => plotImage(p.plot).then(loadImage)));
  const grid = panels.grid.getBoundingClientRect();
  const pad = 16;
  const head = 58;
  const canvas = document.createElement('canvas');
  canvas.width = Math.round((grid.width + 2 * pad) * PNG_SCALE);
  canvas.height = Math.round((head + grid.height + pad) * PNG_SCALE);
  const ctx = canvas.getContext('2d');
  ctx.scale(PNG_SCALE, PNG_SCALE);
  ctx.fillStyle = '#f4f6f8';
  ctx.fillRect(0, 0, grid.width + 2 * pad, head + grid.height + pad);
  const family = 'system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif';
  ctx.fillStyle = '#16212b';
  ctx.textBaseline = 'alphabetic';
  ctx.font = `700 20px ${family}`;
  ctx.fillText('NCE Playground', pad, 28);
  ctx.font = `15px ${family}`;
  ctx.fillText(fitText(ctx, configLine(runs), grid.width), pad, 49);
  shown.forEach((panel, i) => {
    const card = panel.card.getBoundingClientRect();
    const plot = panel.plot.getBoundingClientRect();
    const x = card.left - grid.left + pad;
    const y = card.top - grid.top + head;
    ctx.fillStyle = '#ffffff';
    ctx.strokeStyle = '#d5dce3';
    ctx.lineWidth = 1;
    ctx.fillRect(x, y, card.width, card.height);
    ctx.strokeRect(x + 0.5, y + 0.5, card.width - 1, card.height - 1);
    ctx.fillStyle = '#16212b';
    ctx.font = `600 14px ${family}`;
    ctx.fillText(fitText(ctx, panel.title, card.width - 16), x + 8, y + 18);
    const titleWidth = ctx.measureText(panel.title).width;
    if (panel.note && titleWidth < card.width - 60) {
      ctx.fillStyle = '#5b6873';
      ctx.font = `12px ${family}`;
      ctx.fillText(fitText(ctx, panel.note, card.width - titleWidth - 34), x + titleWidth + 20, y + 18);
    }
    ctx.drawImage(images[i], plot.left - grid.left + pad, plot.top - grid.top + head, plot.width, plot.height);
  });
  return new Promise((resolve, reject) => canvas.toBlob(b => (b ? resolve(b) : reject(new Error('the canvas gave no image'))), 'image/png'));
}

export async function exportDashboardPNG(panels, runs) {
  download(`${baseName(runs[0])}-dashboard.png`, 'image/png', await dashboardPNG(panels, runs));
}

const NUMBER_COLUMNS = [
  ['step', 'step', v => String(v)],
  ['loss', 'loss', v => v.toPrecision(4)],
  ['log_z_est', 'log Ẑ (learned)', v => v.toFixed(3)],
  ['log_z_true', 'log Z (quadrature)', v => v.toFixed(3)],
  ['z_gap', 'log Ẑ − log Z', v => `${v >= 0 ? '+' : ''}${v.toFixed(3)}`],
  ['kl', 'KL(p_d ‖ p_θ) (nats)', formatKL],
  ['grad_cos', 'cos(g_NCE, g_MLE) at N_r', v => v.toFixed(3)],
  ['mi_estimate', 'MI estimate (nats)', v => v.toFixed(3)],
  ['mi_true', 'true MI (nats)', v => v.toFixed(3)],
  ['steps_per_s', 'steps/s', v => String(Math.round(v))],
];

/** The numbers of each run at `frameOf(run)`: {columns: [label], rows: [[run label, ...cells]]}, null columns dropped. */
export function finalNumbers(runs, frameOf = run => run.frame) {
  const values = runs.map(run => {
    const f = frameOf(run) || {};
    const last = run.history.rows.length ? run.history.rows[run.history.rows.length - 1] : {};
    const pick = key => f[key] ?? (last.step === f.step ? last[key] : null) ?? null;
    const out = Object.fromEntries(NUMBER_COLUMNS.map(([key]) => [key, pick(key)]));
    if (out.log_z_est !== null && out.log_z_true !== null) out.z_gap = out.log_z_est - out.log_z_true;
    out.steps_per_s = (run.frame || {}).steps_per_s ?? null;
    return out;
  });
  const used = NUMBER_COLUMNS.filter(([key]) => values.some(v => v[key] !== null && v[key] !== undefined));
  return {
    columns: used.map(([, label]) => label),
    rows: runs.map((run, i) => [run.label || (run.config || {}).method, ...used.map(([key, , show]) => {
      const v = values[i][key];
      return v === null || v === undefined ? '–' : show(Number(v));
    })]),
  };
}

const REPORT_CSS = `
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif; color: #16212b; margin: 24px auto; max-width: 1180px; padding: 0 16px; }
h1 { font-size: 1.5rem; margin: 0 0 4px; } h2 { font-size: 1.15rem; margin: 22px 0 8px; border-bottom: 1px solid #d5dce3; }
.line { font-size: 1.05rem; margin: 0 0 4px; } .meta { color: #5b6873; font-size: 0.9rem; margin: 0; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; } th, td { padding: 3px 10px; border-bottom: 1px solid #d5dce3; text-align: right; }
th:first-child, td:first-child { text-align: left; } th { background: #eef3f7; }
.panels { display: flex; flex-wrap: wrap; gap: 14px; align-items: flex-start; }
figure { margin: 0; border: 1px solid #d5dce3; border-radius: 8px; padding: 8px; break-inside: avoid; max-width: 100%; }
figure img { max-width: 100%; height: auto; display: block; } figcaption { font-weight: 600; margin-bottom: 4px; max-width: 60ch; }
figcaption span { font-weight: 400; color: #5b6873; font-size: 0.88rem; margin-left: 8px; }
.config td:first-child { font-family: ui-monospace, Menlo, Consolas, monospace; }
@media print { body { margin: 0; } }`;

function tableHTML(head, rows, attrs = '') {
  return `<table${attrs}><thead><tr>${head.map(h => `<th>${esc(h)}</th>`).join('')}</tr></thead>`
    + `<tbody>${rows.map(r => `<tr>${r.map(c => `<td>${esc(c)}</td>`).join('')}</tr>`).join('')}</tbody></table>`;
}

/** The report as one HTML document with no script and nothing to fetch. */
export async function reportHTML({ panels, runs, link: pageLink, frameOf }) {
  const { link, tokenRemoved } = exportLink(pageLink);
  drawEveryPanel(panels, runs);
  const shown = shownPanels(panels);
  const images = await Promise.all(shown.map(p => plotImage(p.plot, 1.5)));
  const sizes = shown.map(p => p.plot.getBoundingClientRect()); // shown at their size on the page
  const main = runs[0];
  const f = main.frame || {};
  const line = configLine(runs);
  const numbers = finalNumbers(runs, frameOf);
  const configs = runs.map(r => r.config || r.desired || {});
  const knobs = Object.keys(configs[0]).filter(k => configs[0][k] !== null && typeof configs[0][k] !== 'object');
  const configRows = knobs.map(k => [k, ...configs.map(c => String(c[k]))]);
  const when = new Date();
  const figures = shown.map((p, i) => `<figure data-panel="${esc(p.name)}"><figcaption>${esc(p.title)}`
    + `${p.note ? `<span>${esc(p.note)}</span>` : ''}</figcaption><img alt="${esc(p.title)} panel" width="${Math.round(sizes[i].width)}" height="${Math.round(sizes[i].height)}" src="${images[i]}"></figure>`).join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>NCE Playground report — ${esc(line)}</title>
<style>${REPORT_CSS}</style></head>
<body>
<h1>NCE Playground — run report</h1>
<p class="line">${esc(line)}</p>
<p class="meta">Exported ${esc(when.toISOString().replace('T', ' ').slice(0, 19))} UTC · device ${esc(f.device ?? '–')} · state ${esc(main.status.state)}${runs.length > 1 ? ' · compared in lockstep (equal steps)' : ''}.
This file needs no network and no server: the panels are images.${link ? ` Reopen this configuration live: <a href="${esc(link)}">${esc(link)}</a>` : ''}${tokenRemoved ? ` (${esc(ASK_FOR_LINK)}, and keep the part of the address above from # on)` : ''}</p>
<h2>Final numbers</h2>
${tableHTML(['run', ...numbers.columns], numbers.rows, ' class="numbers" data-testid="report-numbers"')}
<h2>Panels</h2>
<div class="panels">
${figures}
</div>
<h2>Config</h2>
${tableHTML(['knob', ...runs.map(r => r.label || 'value')], configRows, ' class="config" data-testid="report-config"')}
</body></html>
`;
}

export async function exportReport({ panels, runs, link, frameOf }) {
  const html = await reportHTML({ panels, runs, link, frameOf });
  download(`${baseName(runs[0])}-report.html`, 'text/html', html);
}
