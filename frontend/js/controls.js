// The settings form, built from the knob table: one labelled widget per knob, grouped in sections.
// It only reports what the user picked (onChange(name, value)) and shows the config it is given.
import { coerce } from './knobs.js';
import { checkWidget, el, numberWidget, optionalNumberWidget, selectWidget, sliderWidget } from './widgets.js';

function optionsFor(knob, presets) {
  if (knob.name === 'data' && presets && presets.data) {
    const options = Object.entries(presets.data).map(([name, p]) => ({
      value: name, label: name.replace(/_/g, ' '), title: p.description, group: `${p.dim}-D`,
    }));
    return options.sort((a, b) => a.group.localeCompare(b.group));
  }
  const described = { method: 'methods', noise: 'noise', model: 'models' }[knob.name];
  return (knob.enum || []).filter(v => !(knob.name === 'data' && v === 'custom')).map(value => ({
    value, label: knob.names[value] || String(value).replace(/_/g, ' '),
    title: described && presets && presets[described] && presets[described][value] ? presets[described][value].description : null,
  }));
}

export class Controls {
  constructor(form, table, { presets, onChange }) {
    this.table = table;
    this.widgets = {};
    this.hints = {};
    this.presets = presets;
    this.invalid = [];
    this.fieldsets = [];
    for (const section of table.sections) {
      const knobs = table.filter(k => k.section === section && k.widget !== 'none');
      if (!knobs.length) continue;
      const fieldset = el('fieldset', {}, [el('legend', { className: 'sr-only', text: section }), el('h2', { text: section })]);
      for (const knob of knobs) {
        const commit = value => onChange(knob.name, value);
        const parse = text => coerce(knob, text).value;
        let widget;
        if (knob.widget === 'select') widget = selectWidget(knob, commit, k => optionsFor(k, presets));
        else if (knob.widget === 'check') widget = checkWidget(knob, commit);
        else if (knob.widget === 'slider') widget = sliderWidget(knob, commit, parse);
        else if (knob.widget === 'optional') widget = optionalNumberWidget(knob, commit, parse);
        else widget = numberWidget(knob, commit, parse);
        const hint = el('p', { className: 'hint', 'aria-live': 'polite' });
        widget.root.append(hint);
        this.widgets[knob.name] = widget;
        this.hints[knob.name] = hint;
        fieldset.append(widget.root);
      }
      form.append(fieldset);
      this.fieldsets.push(fieldset);
    }
    form.addEventListener('submit', event => event.preventDefault());
  }

  /** Show `config`; force: also overwrite a field the user is editing (after a rejected value). */
  update(config, force = false) {
    for (const knob of this.table) {
      const widget = this.widgets[knob.name];
      if (!widget) continue;
      widget.set(config[knob.name], force);
      widget.root.hidden = !knob.show(config);
      const enabled = knob.enabled(config);
      widget.root.classList.toggle('disabled', !enabled);
      for (const input of widget.root.querySelectorAll('input, select')) input.disabled = !enabled;
      const text = knob.hint(config);
      if (this.hints[knob.name].textContent !== text) this.hints[knob.name].textContent = text;
    }
    for (const fieldset of this.fieldsets) {
      const empty = ![...fieldset.querySelectorAll('.knob')].some(k => !k.hidden);
      if (fieldset.hidden !== empty) fieldset.hidden = empty;
    }
  }

  /** Offer 'custom' in the data menu once there is an upload. */
  setCustomData(info) {
    const widget = this.widgets.data;
    if (!widget) return;
    const options = optionsFor(this.table.byName.data, this.presets);
    if (info) options.push({ value: 'custom', label: `your CSV (${info.rows} rows, ${info.dim}-D)`, group: 'uploaded' });
    widget.refill(options);
  }

  /** Mark fields the server refused (cleared on the next accepted config). */
  markInvalid(names) {
    this.invalid = [...names];
    for (const [name, widget] of Object.entries(this.widgets)) widget.root.classList.toggle('invalid', names.includes(name));
  }

  focus(name) {
    const widget = this.widgets[name];
    if (widget && widget.focusable) widget.focusable.focus();
  }
}
