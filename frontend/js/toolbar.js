// The top bar's page actions (share a link, export JSON / CSV / PNG / dashboard PNG / HTML report,
// large text), a PNG button on every panel, the density panel's view toggles, and the first visit's
// "start here" hint. They read the app's runs and config; they change no run.
import { exportCSV, exportDashboardPNG, exportJSON, exportPNG, exportPanelPNG, exportReport, panelTitle } from './export.js';
import { resizeAll, setLargeText } from './plots/theme.js';

const $ = id => document.getElementById(id);
const LARGE_KEY = 'nce-large-text';
const START_KEY = 'nce-start-here-seen';

function remembered(key) {
  try { return localStorage.getItem(key); } catch { return null; } // storage off: nothing remembered
}

function remember(key, value) {
  try { localStorage.setItem(key, value); } catch { /* storage off */ }
}

/** First visit: a one-line pointer to lesson 1 and Play, until dismissed, used, or Play is pressed. */
function startHere() {
  const hint = $('start-here');
  if (!hint || remembered(START_KEY) === '1') return;
  hint.hidden = false;
  const dismiss = () => { hint.hidden = true; remember(START_KEY, '1'); };
  $('start-here-close').addEventListener('click', dismiss);
  $('play').addEventListener('click', dismiss, { once: true });
  $('start-lesson').addEventListener('click', () => {
    dismiss();
    const first = document.querySelector('#lessons button');
    if (first) { first.click(); first.focus(); }
  });
}

/** The numbers the exports show for a run: compare mode's common (lockstep) step, else the latest frame. */
function frameOf(app) {
  const common = app.runs.length > 1 && app.lockstep ? app.lockstep.commonStep() : null;
  return run => (common !== null && app.lockstep.frameAt(run, common)) || run.frame;
}

/** A small PNG button in every panel's header. */
function panelButtons(app) {
  for (const [name, card] of Object.entries(app.panels.cards)) {
    const header = card.querySelector(':scope > header');
    if (!header || header.querySelector('.panel-png')) continue;
    const button = document.createElement('button');
    button.type = 'button';
    button.className = 'panel-png';
    button.dataset.testid = `export-png-${name}`;
    button.textContent = 'PNG';
    button.title = `Download the ${panelTitle(card)} panel as PNG (for a slide)`;
    button.setAttribute('aria-label', `Download the ${panelTitle(card)} panel as PNG`);
    button.addEventListener('click', () => exportPanelPNG(name, app.panels, app.runs)
      .catch(err => app.messages.error(`PNG export failed: ${err.message}`, 'export')));
    header.append(button);
  }
}

async function busy(button, work) {
  button.disabled = true;
  try { await work(); } finally { button.disabled = false; }
}

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
  remember(LARGE_KEY, on ? '1' : '0');
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
  $('export-dashboard').addEventListener('click', event => busy(event.currentTarget, () => exportDashboardPNG(app.panels, app.runs))
    .catch(err => app.messages.error(`Dashboard export failed: ${err.message}`, 'export')));
  $('export-report').addEventListener('click', event => busy(event.currentTarget,
    () => exportReport({ panels: app.panels, runs: app.runs, link: app.store.link(), frameOf: frameOf(app) }))
    .catch(err => app.messages.error(`Report export failed: ${err.message}`, 'export')));
  panelButtons(app);
  startHere();
  $('large-text').addEventListener('click', () => largeText(app, !document.documentElement.classList.contains('large')));
  for (const [id, key] of [['show-data', 'showData'], ['show-noise', 'showNoise'], ['log-density', 'logScale']]) {
    const box = $(id);
    app.panels.opts[key] = box.checked;
    box.addEventListener('change', () => { app.panels.opts[key] = box.checked; app.panels.schedule(); });
  }
  if (remembered(LARGE_KEY) === '1') largeText(app, true);
}
