// The top bar's page actions (share a link, export JSON / CSV / PNG, large text) and the density
// panel's view toggles. They read the app's runs and config; they change no run.
import { exportCSV, exportJSON, exportPNG } from './export.js';
import { resizeAll, setLargeText } from './plots/theme.js';

const $ = id => document.getElementById(id);
const LARGE_KEY = 'nce-large-text';

function share(app) {
  const link = app.store.link();
  const box = $('share-link');
  box.value = link;
  $('share-box').hidden = false;
  box.focus();
  box.select();
  const done = () => app.messages.info('Link copied. Opening it restores this configuration.', 'share');
  const manual = () => app.messages.info('Copy the link shown under “Your own data”.', 'share');
  if (navigator.clipboard && window.isSecureContext) navigator.clipboard.writeText(link).then(done, manual);
  else manual();
}

function largeText(app, on) {
  document.documentElement.classList.toggle('large', on);
  $('large-text').setAttribute('aria-pressed', String(on));
  setLargeText(on);
  try { localStorage.setItem(LARGE_KEY, on ? '1' : '0'); } catch { /* storage off: the toggle still works */ }
  requestAnimationFrame(() => { resizeAll(); app.panels.redrawAll(); app.experiments.render(); });
}

export function wireToolbar(app) {
  $('share').addEventListener('click', () => share(app));
  $('export-json').addEventListener('click', () => exportJSON(app.runs, app.store.link()));
  $('export-csv').addEventListener('click', () => exportCSV(app.runs));
  $('export-png').addEventListener('click', () => {
    const plot = app.main.method === 'cpc' ? $('mi-plot') : $('density-plot');
    exportPNG(plot, app.main).catch(err => app.messages.error(`PNG export failed: ${err.message}`, 'export'));
  });
  $('large-text').addEventListener('click', () => largeText(app, !document.documentElement.classList.contains('large')));
  for (const [id, key] of [['show-data', 'showData'], ['show-noise', 'showNoise'], ['log-density', 'logScale']]) {
    const box = $(id);
    app.panels.opts[key] = box.checked;
    box.addEventListener('change', () => { app.panels.opts[key] = box.checked; app.panels.schedule(); });
  }
  let stored = null;
  try { stored = localStorage.getItem(LARGE_KEY); } catch { /* storage off */ }
  if (stored === '1') largeText(app, true);
}
