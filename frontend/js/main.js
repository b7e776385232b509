// Entry point: fetch the schema and presets, wait for Plotly, start the controller.
import { getJSON } from './api.js';
import { App } from './app.js';
import { Messages } from './messages.js';

function plotlyReady() {
  if (window.Plotly) return Promise.resolve();
  return new Promise((resolve, reject) => {
    window.addEventListener('load', () => (window.Plotly ? resolve() : reject(new Error('Plotly did not load'))), { once: true });
  });
}

async function boot() {
  const messages = new Messages(document.getElementById('messages'));
  let schema;
  let presets;
  let health = null;
  try {
    [schema, presets] = await Promise.all([getJSON('/api/schema'), getJSON('/api/presets')]);
    health = await getJSON('/api/health').catch(() => null);
  } catch (err) {
    const refused = err.status === 401 || err.status === 403;
    messages.error(refused
      ? `Access refused (${err.message}): open the link you were given, with its token.`
      : `Cannot reach the server (${err.message}). Reload the page when it is back.`, 'boot');
    document.getElementById('run-state').textContent = 'offline';
    return;
  }
  try {
    await plotlyReady();
  } catch (err) {
    messages.error(`${err.message}: the plots cannot be drawn.`, 'boot');
    return;
  }
  const app = new App({ schema, presets, health, messages });
  app.start();
}

boot();
