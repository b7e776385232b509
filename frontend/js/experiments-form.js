// The Experiments view's settings: one input per knob of the chosen experiment, built from its schema
// (GET /api/schema "experiments"), read back as a sweep config, and written to / read from the URL hash
// (only values that differ from the defaults; lists as "1,10", noises as preset ids "data,wide").
import { el } from './widgets.js';

/** The noise distributions q offered as checkboxes; a default the schema names that is not here is added. */
export const NOISE_PRESETS = [
  { id: 'data', label: 'q = p_d (the data itself)', spec: { noise: 'data' } },
  { id: 'wide', label: 'wider N(0, 2²)', spec: { noise: 'gaussian', noise_loc: 0, noise_scale: 2 } },
  { id: 'narrow', label: 'narrower N(0, 0.5²)', spec: { noise: 'gaussian', noise_loc: 0, noise_scale: 0.5 } },
  { id: 'laplace', label: 'Laplace, σ = 1', spec: { noise: 'laplace', noise_loc: 0, noise_scale: 1 } },
  { id: 'uniform', label: 'uniform, σ = 1 (misses the tails)', spec: { noise: 'uniform', noise_loc: 0, noise_scale: 1 } },
  { id: 'shifted', label: 'shifted N(2, 1)', spec: { noise: 'gaussian', noise_loc: 2, noise_scale: 1 } },
];

const LABELS = {
  reps: 'Repetitions per point', seed: 'Seed', nr: 'Nᵣ values', k: 'k values', mi: 'True MI values (nats)',
  batch_size: 'Batch sizes B', sample_size: 'Sample size T_d', steps: 'Steps per model', lr: 'Learning rate',
  hidden: 'Hidden width', depth: 'Depth (hidden layers)', eval_batches: 'Evaluation batches', data: 'Data p_d',
  device: 'Device', noises: 'Noise distributions q',
};
const NOT_FOR_SWEEPS = new Set(['custom', 'correlated_gaussian']); // an upload, the CPC pairs

const sameNoise = (a, b) => (a.noise || 'data') === (b.noise || 'data')
  && (a.noise === 'data' || ((a.noise_loc ?? 0) === (b.noise_loc ?? 0) && (a.noise_scale ?? 1) === (b.noise_scale ?? 1)));

/** A friendly name for a noise spec (a preset's label), else `fallback` (the server's label). */
export function noiseName(spec, fallback) {
  const preset = spec ? NOISE_PRESETS.find(p => sameNoise(p.spec, spec)) : null;
  return preset ? preset.label : fallback;
}

const listText = values => (values || []).map(String).join(', ');
const tokens = text => String(text).split(/[\s,;]+/).filter(Boolean);
const asNumber = text => (text !== '' && Number.isFinite(Number(text)) ? Number(text) : text); // text: the server names it

function kindOf(spec) {
  if (spec.const !== undefined) return 'none';
  if (spec.type === 'array') return spec.items && spec.items.$ref ? 'noises' : 'list';
  if (spec.enum) return 'select';
  if (spec.type === 'string') return 'data';
  return 'number';
}

function field(name, label, control, hint) {
  const id = `exp-${name}`;
  control.id = id;
  control.setAttribute('data-testid', `experiment-${name}`);
  control.name = name;
  return el('div', { className: 'knob', 'data-exp-knob': name }, [
    el('div', { className: 'knob-head' }, [el('label', { for: id, text: label })]), control,
    el('p', { className: 'hint', text: hint || '' })]);
}

function select(options, value) {
  const node = el('select');
  for (const o of options) node.append(el('option', { value: o.value, text: o.label, title: o.title || null }));
  node.value = String(value);
  return node;
}

export class ExperimentForm {
  /** root: the element to fill; spec: schema.experiments[name]; presets: GET /api/presets. */
  constructor(root, name, spec, presets) {
    this.name = name;
    this.fields = {};
    const nodes = [];
    for (const [knob, ks] of Object.entries(spec.knobs)) {
      const kind = kindOf(ks);
      const label = LABELS[knob] || ks.title || knob;
      const f = { kind, default: spec.defaults[knob] ?? ks.default };
      if (kind === 'none') continue;
      if (kind === 'noises') {
        f.presets = [...NOISE_PRESETS];
        for (const d of f.default || []) {
          if (!f.presets.some(p => sameNoise(p.spec, d))) f.presets.push({ id: `${d.noise}_${d.noise_loc}_${d.noise_scale}`, label: `${d.noise}(${d.noise_loc}, ${d.noise_scale})`, spec: d });
        }
        f.boxes = f.presets.map(p => el('input', { type: 'checkbox', value: p.id, 'data-testid': `experiment-noise-${p.id}`,
          name: 'noises', id: `exp-noise-${p.id}` }));
        const rows = f.presets.map((p, i) => el('label', { className: 'noise-choice', for: f.boxes[i].id }, [f.boxes[i], document.createTextNode(p.label)]));
        f.root = el('fieldset', { className: 'knob noises', 'data-exp-knob': knob, title: ks.description || '' },
          [el('legend', { text: label }), ...rows]);
      } else {
        let control;
        if (kind === 'list') {
          control = el('input', { type: 'text', inputmode: 'decimal', spellcheck: 'false', autocomplete: 'off' });
        } else if (kind === 'number') {
          control = el('input', { type: 'number', step: ks.type === 'integer' ? 1 : 'any', min: ks.minimum ?? undefined, max: ks.maximum ?? undefined });
        } else if (kind === 'select') {
          control = select(ks.enum.map(v => ({ value: v, label: v })), f.default);
        } else {
          const data = Object.entries((presets && presets.data) || {}).filter(([n]) => !NOT_FOR_SWEEPS.has(n));
          control = select(data.map(([n, p]) => ({ value: n, label: `${n.replace(/_/g, ' ')} (${p.dim}-D)`, title: p.description })), f.default);
        }
        f.input = control;
        f.root = field(knob, label, control, ks.description);
        f.root.title = ks.description || '';
      }
      this.fields[knob] = f;
      nodes.push(f.root);
    }
    root.replaceChildren(...nodes);
    this.reset();
  }

  /** Every input back at the experiment's defaults. */
  reset() {
    for (const f of Object.values(this.fields)) this.set(f, f.default);
  }

  set(f, value) {
    if (f.kind === 'noises') f.boxes.forEach((box, i) => { box.checked = (value || []).some(d => sameNoise(f.presets[i].spec, d)); });
    else if (f.kind === 'list') f.input.value = listText(value);
    else f.input.value = value === null || value === undefined ? '' : String(value);
  }

  /** The knob's value as hash text ('' = empty). */
  text(f) {
    if (f.kind === 'noises') return f.presets.filter((p, i) => f.boxes[i].checked).map(p => p.id).join(',');
    if (f.kind === 'list') return tokens(f.input.value).join(',');
    return String(f.input.value).trim();
  }

  defaultText(f) {
    if (f.kind === 'noises') return f.presets.filter(p => (f.default || []).some(d => sameNoise(p.spec, d))).map(p => p.id).join(',');
    if (f.kind === 'list') return (f.default || []).map(String).join(',');
    return f.default === null || f.default === undefined ? '' : String(f.default);
  }

  /** The sweep config to send: {experiment, ...knobs}; an empty number box takes the server's default. */
  config() {
    const config = { experiment: this.name };
    for (const [knob, f] of Object.entries(this.fields)) {
      if (f.kind === 'noises') config[knob] = f.presets.filter((p, i) => f.boxes[i].checked).map(p => p.spec);
      else if (f.kind === 'list') config[knob] = tokens(f.input.value).map(asNumber);
      else if (f.kind === 'number') { if (f.input.value.trim() !== '') config[knob] = asNumber(f.input.value.trim()); }
      else config[knob] = f.input.value;
    }
    return config;
  }

  /** How many models the sweep trains: reps × the length of every list (null while a list is empty). */
  models() {
    const reps = Number(this.fields.reps ? this.fields.reps.input.value : NaN);
    if (!Number.isInteger(reps) || reps < 1) return null;
    const lists = Object.values(this.fields).filter(f => f.kind === 'list' || f.kind === 'noises');
    return lists.reduce((n, f) => n * this.text(f).split(',').filter(Boolean).length, reps) || null;
  }

  /** The knobs that differ from the defaults, as hash parameters. */
  params() {
    const out = {};
    for (const [knob, f] of Object.entries(this.fields)) {
      const text = this.text(f);
      if (text !== this.defaultText(f) && !(f.kind === 'number' && text === '')) out[knob] = text;
    }
    return out;
  }

  /** Fill the inputs from hash parameters; returns the problems (unknown names, values that do not fit). */
  apply(params) {
    const problems = [];
    for (const [knob, raw] of Object.entries(params)) {
      const f = this.fields[knob];
      if (!f) { problems.push(`unknown ${this.name} setting '${knob}' (ignored)`); continue; }
      if (f.kind === 'noises') {
        const ids = tokens(raw);
        const bad = ids.filter(id => !f.presets.some(p => p.id === id));
        if (bad.length) problems.push(`noises: '${bad.join(',')}' is not one of ${f.presets.map(p => p.id).join(', ')} (ignored)`);
        f.boxes.forEach((box, i) => { box.checked = ids.includes(f.presets[i].id); });
      } else if (f.kind === 'list') {
        f.input.value = tokens(raw).join(', ');
      } else {
        f.input.value = raw;
        if (f.input.value !== raw) { problems.push(`${knob}: '${raw}' does not fit (ignored)`); this.set(f, f.default); }
      }
    }
    return problems;
  }

  /** Mark the knobs a refusal names (cleared with an empty list). */
  markInvalid(names) {
    for (const [knob, f] of Object.entries(this.fields)) f.root.classList.toggle('invalid', names.includes(knob));
  }
}
