// The URL hash <-> config, both ways, driven by the knob table: only knobs that differ from their
// default are written, so links stay short; opening a link gives back the same config.
// `view=experiments` marks a link to the Experiments view: its other keys are that view's
// (experiment=..., and its knobs), handed over as they are, not as run knobs.
import { coerce, format } from './knobs.js';

const METHODS_FOR_COMPARE = ['mle', 'nce', 'infonce'];

/** config (+ page extras such as the compared methods) -> '#k=v&...' ('' when all defaults). */
export function encodeHash(config, table, extras = {}) {
  if (extras.view) return `#${new URLSearchParams(extras.view)}`.replace(/%2C/g, ','); // lists stay readable
  const params = new URLSearchParams();
  for (const knob of table) {
    const value = config[knob.name];
    if (value === undefined || value === knob.default) continue;
    params.set(knob.name, format(knob, value));
  }
  if (extras.compare && extras.compare.length) params.set('compare', extras.compare.join(','));
  const text = params.toString();
  return text ? `#${text}` : '';
}

/** '#k=v&...' -> {patch, extras, problems}. Values are typed by the table; a value that cannot be
 *  typed is passed on as text, so that the server's validation names the field and the bound.
 *  Unknown names are reported here (and dropped). */
export function decodeHash(hash, table) {
  const text = String(hash || '').replace(/^#/, '');
  const patch = {};
  const extras = {};
  const problems = [];
  if (!text.trim()) return { patch, extras, problems };
  const params = new URLSearchParams(text);
  const view = params.get('view');
  if (view === 'experiments') {
    extras.view = Object.fromEntries(params);
    return { patch, extras, problems };
  }
  if (view !== null) problems.push(`view: '${view}' is not 'experiments' (ignored)`);
  for (const [key, raw] of params) {
    if (key === 'view') continue;
    if (key === 'compare') {
      const methods = raw.split(',').map(s => s.trim()).filter(Boolean);
      const bad = methods.filter(m => !METHODS_FOR_COMPARE.includes(m));
      if (bad.length) problems.push(`compare: '${bad.join(',')}' is not one of ${METHODS_FOR_COMPARE.join(', ')} (ignored)`);
      extras.compare = methods.filter(m => METHODS_FOR_COMPARE.includes(m));
      continue;
    }
    const knob = table.byName[key];
    if (!knob) {
      problems.push(`unknown setting '${key}' (ignored)`);
      continue;
    }
    patch[key] = coerce(knob, raw).value;
  }
  return { patch, extras, problems };
}
