// The ONE table of knobs. Names, types, defaults and bounds come from GET /api/schema; this module only
// adds how each knob is shown (section, label, widget). The URL hash (hash.js), the controls
// (controls.js) and the exports all read this table, so a knob added to RunConfig shows up everywhere.

const SECTIONS = ['Objective', 'Data', 'Noise q', 'Model', 'Training'];

// How a knob is shown. Anything the schema has that is missing here gets a generic widget.
const UI = {
  method: { section: 'Objective', label: 'Method', widget: 'select',
    names: { mle: 'MLE (exact Z)', nce: 'NCE', infonce: 'InfoNCE (ranking)', cpc: 'CPC (InfoNCE on pairs)' } },
  nr: { section: 'Objective', label: 'Nᵣ noise per data sample', widget: 'slider', scale: 'log', step: 0.01,
    show: c => c.method !== 'cpc',
    hint: c => (c.method === 'nce' ? '' : 'Only the gradient and weight panels use Nᵣ for this method.') },
  k: { section: 'Objective', label: 'k negatives per positive', widget: 'slider', scale: 'log2',
    show: c => c.method === 'infonce' },
  learn_log_z: { section: 'Objective', label: 'Learn log Z (NCE’s c)', widget: 'check',
    show: c => c.method === 'nce' || c.method === 'infonce',
    hint: c => (c.method === 'infonce' ? 'InfoNCE’s loss gives log Ẑ no gradient: learnable or not, it stays put (lesson 5).' : '') },
  mi: { section: 'Objective', label: 'True mutual information (nats)', widget: 'slider', step: 0.1,
    show: c => c.method === 'cpc' || c.data === 'correlated_gaussian' },
  data: { section: 'Data', label: 'Data p_d', widget: 'select', show: c => c.method !== 'cpc' },
  data_file: { widget: 'none' },
  sample_size: { section: 'Data', label: 'Fixed sample T_d', widget: 'optional', fallback: 1000, hint: fixedSampleHint },
  noise: { section: 'Noise q', label: 'Noise family', widget: 'select', show: c => c.method !== 'cpc' },
  noise_fit: { section: 'Noise q', label: 'Fit q to the data', widget: 'check', show: c => c.method !== 'cpc' },
  noise_loc: { section: 'Noise q', label: 'q location', widget: 'slider', min: -10, max: 10, step: 0.1,
    show: c => c.method !== 'cpc', enabled: c => !c.noise_fit },
  noise_scale: { section: 'Noise q', label: 'q scale (std)', widget: 'slider', scale: 'log', step: 0.01,
    show: c => c.method !== 'cpc', enabled: c => !c.noise_fit },
  model: { section: 'Model', label: 'Energy model G(x; θ)', widget: 'select',
    names: { mlp: 'MLP (the seed’s network)', gaussian: 'Gaussian (closed form)' }, show: c => c.method !== 'cpc' },
  hidden: { section: 'Model', label: 'Hidden width', widget: 'slider', step: 4 },
  depth: { section: 'Model', label: 'Depth (hidden layers)', widget: 'slider', step: 1 },
  lr: { section: 'Training', label: 'Learning rate', widget: 'slider', scale: 'log', min: 1e-4, max: 1, step: 0.01 },
  lr_decay: { section: 'Training', label: 'Cosine learning-rate decay', widget: 'check' },
  ema_decay: { section: 'Training', label: 'Average θ for the plots (EMA decay)', widget: 'slider', step: 0.005,
    hint: c => (c.ema_decay > 0 ? `Plots show θ averaged over ~${Math.round(1 / (1 - c.ema_decay))} steps.`
      : 'Plots show θ itself, with Adam’s step-to-step wobble.') },
  batch_size: { section: 'Training', label: 'Batch size', widget: 'slider', scale: 'log2' },
  steps: { section: 'Training', label: 'Steps', widget: 'number' },
  seed: { section: 'Training', label: 'Seed', widget: 'number' },
  grid: { section: 'Training', label: 'Grid cells per axis', widget: 'slider', step: 16 },
  device: { section: 'Training', label: 'Device', widget: 'select' },
};

/** What the fixed-sample control means for the current method. */
function fixedSampleHint(c) {
  const t = c.sample_size;
  if (t === null || t === undefined) return 'Off: fresh data and noise every step (the population loss).';
  const noise = c.method === 'nce' ? ` and ${Math.max(1, Math.round(c.nr * t)).toLocaleString('en')} noise points (Nᵣ·T_d)`
    : c.method === 'infonce' ? ` and ${(c.k * t).toLocaleString('en')} noise points (k per data point)` : '';
  return `${t.toLocaleString('en')} data points${noise}, drawn once and reused every step.`;
}

/** Build the knob table from /api/schema: an array in display order, each entry a plain object. */
export function buildKnobTable(schema) {
  const rebuild = new Set(schema.rebuild || []);
  const knobs = Object.entries(schema.knobs).map(([name, spec]) => {
    const ui = UI[name] || {};
    const type = spec.type || (spec.enum ? 'string' : 'number');
    const widget = ui.widget || (spec.enum ? 'select' : type === 'boolean' ? 'check' : type === 'string' ? 'none' : 'number');
    return {
      name,
      type,
      enum: spec.enum || null,
      default: spec.default,
      min: spec.minimum ?? spec.exclusiveMinimum ?? null,
      max: spec.maximum ?? spec.exclusiveMaximum ?? null,
      nullable: Boolean(spec.nullable),
      description: spec.description || '',
      rebuild: rebuild.has(name),
      section: ui.section || 'Training',
      label: ui.label || name.replace(/_/g, ' '),
      widget,
      scale: ui.scale || 'linear',
      step: ui.step ?? (type === 'integer' ? 1 : null),
      sliderMin: ui.min ?? spec.minimum ?? spec.exclusiveMinimum ?? 0,
      sliderMax: ui.max ?? spec.maximum ?? 1,
      names: ui.names || {},
      show: ui.show || (() => true),
      enabled: ui.enabled || (() => true),
      hint: ui.hint || (() => ''),
      fallback: ui.fallback ?? null,
    };
  });
  const order = name => (Object.keys(UI).indexOf(name) + 1) || 999;
  knobs.sort((a, b) => SECTIONS.indexOf(a.section) - SECTIONS.indexOf(b.section) || order(a.name) - order(b.name));
  knobs.byName = Object.fromEntries(knobs.map(k => [k.name, k]));
  knobs.sections = SECTIONS;
  return knobs;
}

/** Every knob at its default. */
export function defaults(table) {
  return Object.fromEntries(table.map(k => [k.name, k.default]));
}

/** Text (from the URL or an input) to the knob's type. Returns {value} or {value: text, error}: a value
 *  that cannot be typed is still passed on, so the server's validation names the field and the bound. */
export function coerce(knob, text) {
  const raw = String(text).trim();
  if (knob.nullable && (raw === '' || raw === 'null')) return { value: null };
  if (knob.type === 'boolean') {
    if (['true', '1', 'yes', 'on'].includes(raw.toLowerCase())) return { value: true };
    if (['false', '0', 'no', 'off'].includes(raw.toLowerCase())) return { value: false };
    return { value: raw, error: `'${raw}' is not true or false` };
  }
  if (knob.type === 'integer' || knob.type === 'number') {
    const value = raw === '' ? NaN : Number(raw);
    if (!Number.isFinite(value)) return { value: raw, error: `'${raw}' is not a number` };
    if (knob.type === 'integer' && !Number.isInteger(value)) return { value: raw, error: `'${raw}' is not a whole number` };
    return { value };
  }
  return { value: raw };
}

/** The knob's value as URL text. */
export function format(knob, value) {
  if (value === null || value === undefined) return '';
  return String(value);
}

/** Knob names at the start of server messages ("nr: Input should be ..."; several joined by "; "). */
export function fieldsNamed(message) {
  const names = new Set();
  for (const part of String(message || '').split(/;\s*/)) {
    const match = /^\s*([A-Za-z_]\w*)\s*:/.exec(part);
    if (match) names.add(match[1]);
  }
  return [...names];
}
