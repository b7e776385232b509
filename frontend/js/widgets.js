// Labelled form widgets for one knob each: select, checkbox, slider (+ exact number box), number and
// optional number (a checkbox: off = null, on = the number box's value).
// Every widget has the same face: {root, set(value), focusable}, and calls commit(value) when the user
// settles on a value (slider drags commit at most every THROTTLE_MS, and once more on release).

const THROTTLE_MS = 150;

function el(tag, attrs = {}, children = []) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'text') node.textContent = value;
    else if (key === 'className') node.className = value;
    else node.setAttribute(key, value === true ? '' : value);
  }
  for (const child of children) node.append(child);
  return node;
}

function head(knob, forId) {
  const label = el('label', { for: forId, text: knob.label });
  const parts = [label];
  if (knob.rebuild) {
    parts.push(el('span', { className: 'rebuild', text: '↻ rebuilds',
      title: 'Changing this rebuilds the model and starts again from step 0' }));
  }
  return el('div', { className: 'knob-head' }, parts);
}

function shell(knob, kind) {
  return el('div', { className: `knob ${kind}`, 'data-knob': knob.name, title: knob.description });
}

export function selectWidget(knob, commit, optionsFor) {
  const root = shell(knob, 'select');
  const select = el('select', { id: `knob-${knob.name}`, 'data-testid': knob.name, name: knob.name });
  const fill = options => {
    const current = select.value;
    const groups = new Map();
    const nodes = [];
    for (const o of options) {
      const option = el('option', { value: o.value, text: o.label, title: o.title || null });
      if (!o.group) { nodes.push(option); continue; }
      if (!groups.has(o.group)) { groups.set(o.group, el('optgroup', { label: o.group })); nodes.push(groups.get(o.group)); }
      groups.get(o.group).append(option);
    }
    select.replaceChildren(...nodes);
    if (current && [...select.options].some(o => o.value === current)) select.value = current;
  };
  fill(optionsFor(knob));
  select.addEventListener('change', () => commit(select.value));
  root.append(head(knob, select.id), select);
  return {
    root, focusable: select, refill: fill,
    set(value) {
      if (![...select.options].some(o => o.value === String(value))) select.append(el('option', { value, text: String(value) }));
      select.value = String(value);
    },
  };
}

export function checkWidget(knob, commit) {
  const root = shell(knob, 'check');
  const box = el('input', { type: 'checkbox', id: `knob-${knob.name}`, 'data-testid': knob.name, name: knob.name });
  box.addEventListener('change', () => commit(box.checked));
  root.append(el('label', { for: box.id }, [box, document.createTextNode(knob.label)]));
  return { root, focusable: box, set(value) { box.checked = Boolean(value); } };
}

/** Position on the slider <-> knob value, for linear, log10 and log2 scales. */
function scaleOf(knob) {
  const lo = knob.sliderMin;
  const hi = knob.sliderMax;
  if (knob.scale === 'log') {
    return { min: Math.log10(lo), max: Math.log10(hi), step: knob.step || 0.01,
      toPos: v => Math.log10(v), toValue: p => Number((10 ** p).toPrecision(3)) };
  }
  if (knob.scale === 'log2') {
    return { min: Math.log2(lo), max: Math.log2(hi), step: 1,
      toPos: v => Math.log2(v), toValue: p => Math.round(2 ** p) };
  }
  const step = knob.step || (knob.type === 'integer' ? 1 : (hi - lo) / 100);
  return { min: lo, max: hi, step, toPos: v => v,
    toValue: p => (knob.type === 'integer' ? Math.round(p) : Number(Number(p).toPrecision(6))) };
}

export function sliderWidget(knob, commit, parse) {
  const root = shell(knob, 'slider');
  const s = scaleOf(knob);
  const range = el('input', { type: 'range', id: `knob-${knob.name}`, 'data-testid': knob.name, name: knob.name,
    min: s.min, max: s.max, step: s.step });
  const number = el('input', { type: 'number', id: `knob-${knob.name}-input`, 'data-testid': `${knob.name}-input`,
    'aria-label': `${knob.label} (exact value)`, step: 'any', min: knob.min ?? undefined, max: knob.max ?? undefined });
  let dragging = false;
  let timer = null;
  let lastSent = null;
  const send = value => {
    clearTimeout(timer);
    timer = null;
    if (value === lastSent) return;
    lastSent = value;
    commit(value);
  };
  range.addEventListener('pointerdown', () => {
    dragging = true;
    window.addEventListener('pointerup', () => { dragging = false; }, { once: true }); // released anywhere
  });
  range.addEventListener('input', () => {
    const value = s.toValue(Number(range.value));
    number.value = value;
    range.setAttribute('aria-valuetext', String(value));
    if (!timer) timer = setTimeout(() => send(s.toValue(Number(range.value))), THROTTLE_MS);
  });
  range.addEventListener('change', () => { dragging = false; send(s.toValue(Number(range.value))); });
  const place = value => {
    if (typeof value !== 'number' || !Number.isFinite(value)) return;
    range.value = String(s.toPos(Math.max(knob.min ?? value, value)));
    range.setAttribute('aria-valuetext', String(value));
  };
  number.addEventListener('change', () => {
    const parsed = parse(number.value);
    place(parsed);
    lastSent = null;
    send(parsed);
  });
  root.append(head(knob, range.id), el('div', { className: 'knob-row' }, [range, number]));
  return {
    root, focusable: range,
    /** Shows `value`; the part the user is working (a dragged thumb, a box being typed in) is left alone. */
    set(value, force = false) {
      lastSent = value;
      if (force || !dragging) place(value);
      if (force || document.activeElement !== number) number.value = value === null || value === undefined ? '' : String(value);
    },
  };
}

export function numberWidget(knob, commit, parse) {
  const root = shell(knob, 'number');
  const input = el('input', { type: 'number', id: `knob-${knob.name}`, 'data-testid': knob.name, name: knob.name,
    className: 'wide', step: knob.type === 'integer' ? 1 : 'any', min: knob.min ?? undefined, max: knob.max ?? undefined });
  input.addEventListener('change', () => commit(parse(input.value)));
  root.append(head(knob, input.id), input);
  return {
    root, focusable: input,
    set(value, force = false) {
      if (!force && document.activeElement === input) return;
      input.value = value === null || value === undefined ? '' : String(value);
    },
  };
}

/** A nullable number: the checkbox turns it off (null) or on (the box's value, else the last one, else
 *  knob.fallback); typing a number turns it on, emptying the box turns it off. */
export function optionalNumberWidget(knob, commit, parse) {
  const root = shell(knob, 'optional');
  const box = el('input', { type: 'checkbox', id: `knob-${knob.name}`, 'data-testid': knob.name, name: knob.name });
  const input = el('input', { type: 'number', id: `knob-${knob.name}-input`, 'data-testid': `${knob.name}-input`,
    'aria-label': `${knob.label} (exact value)`, step: knob.type === 'integer' ? 1 : 'any', min: knob.min ?? undefined, max: knob.max ?? undefined });
  let last = knob.fallback ?? knob.min;
  const show = on => root.classList.toggle('off', !on);
  box.addEventListener('change', () => {
    show(box.checked);
    if (!box.checked) { commit(null); return; }
    const value = parse(input.value);
    commit(value === null ? last : value);
  });
  input.addEventListener('change', () => {
    const value = parse(input.value);
    box.checked = value !== null;
    show(box.checked);
    commit(value);
  });
  root.append(el('div', { className: 'knob-row' }, [el('label', { for: box.id }, [box, document.createTextNode(knob.label)]), input]));
  return {
    root, focusable: box,
    set(value, force = false) {
      const on = value !== null && value !== undefined;
      if (on && typeof value === 'number') last = value;
      box.checked = on;
      show(on);
      if (force || document.activeElement !== input) input.value = String(on ? value : last);
    },
  };
}

export { el };
