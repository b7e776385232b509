// The lessons strip and the lesson card. A lesson is a short script: picking it hands its knobs to the
// controller (onPick), scrolls to and highlights the panel it is about (`watch`), and, when it has a
// `script`, the controller trains exactly `script.pause` steps and holds; at that step a short callout
// goes on the watched plot and the card says what to look at. When the run finishes, the card ends
// with the lesson's "what you saw" line. A button in a lesson with data-experiment="name" opens that
// experiment (onExperiment). Focus goes to the card, so Space, S and R act on the run at once.
import { LESSONS } from './lessons-data.js';

/** The card's words for each watched panel (the panels' own titles, shortened). */
const PANEL_WORDS = {
  density: 'density', z: 'Z', loss: 'loss', kl: 'KL', grad: 'gradient', weight: 'weight', classifier: 'classifier',
  mi: 'mutual-information', critic: 'critic',
};

export class Lessons {
  /** run: the main Run (its status and frames drive the script); panels: the Panels (watch, callout). */
  constructor({ strip, card, title, body, close, run, panels, onPick, onClose, onExperiment }) {
    Object.assign(this, { strip, card, title, body, run, panels });
    this.active = null; // { lesson, armed, paused, done }
    this.listeners = new Set();
    card.tabIndex = -1;
    body.addEventListener('click', event => {
      const button = event.target.closest && event.target.closest('[data-experiment]');
      if (button && onExperiment) onExperiment(button.dataset.experiment);
    });
    this.buttons = new Map();
    for (const lesson of LESSONS) {
      const button = document.createElement('button');
      button.type = 'button';
      button.textContent = lesson.short || lesson.title;
      button.title = lesson.title;
      button.setAttribute('data-testid', `lesson-${lesson.id}`);
      button.setAttribute('aria-pressed', 'false');
      button.addEventListener('click', () => {
        this.show(lesson);
        onPick(lesson);
        this.card.focus({ preventScroll: true }); // Space/S/R now act on the run, not on this button
      });
      strip.append(button);
      this.buttons.set(lesson.id, button);
    }
    close.addEventListener('click', () => { this.hide(); if (onClose) onClose(); });
    if (run) {
      run.on('config', (_message, { started }) => { if (started && this.active) this.active.armed = true; });
      run.on('status', () => this.follow());
      run.on('frame', () => this.follow());
    }
  }

  show(lesson) {
    this.title.textContent = lesson.title;
    const script = lesson.script || {};
    const panel = PANEL_WORDS[lesson.watch] || lesson.watch;
    // lesson.body is static, trusted markup (text and MathML), no script
    this.body.innerHTML = `<p class="lesson-progress" data-testid="lesson-progress" role="status">${script.pause
        ? `Training to step ${script.pause}, then holding there: watch the ${panel} panel.`
        : `Running: watch the ${panel} panel.`}</p>
      ${lesson.body}
      <p class="lesson-saw" data-testid="lesson-saw" hidden></p>`;
    this.card.hidden = false;
    this.card.dataset.lesson = lesson.id;
    delete this.card.dataset.phase;
    for (const [id, button] of this.buttons) button.setAttribute('aria-pressed', String(id === lesson.id));
    this.active = { lesson, armed: false, paused: false, done: false }; // armed: its own run has started
    if (this.panels) {
      this.panels.setCallout(null);
      this.panels.watch(lesson.watch || null);
    }
    this.changed();
  }

  hide() {
    this.card.hidden = true;
    delete this.card.dataset.lesson;
    for (const button of this.buttons.values()) button.setAttribute('aria-pressed', 'false');
    this.active = null;
    if (this.panels) {
      this.panels.setCallout(null);
      this.panels.watch(null);
    }
    this.changed();
  }

  byId(id) {
    return LESSONS.find(l => l.id === id);
  }

  /** The callout on screen now ({panel, text}) or null; presenter mode shows it too. */
  get callout() {
    return this.panels && this.panels.callout ? { ...this.panels.callout } : null;
  }

  /** fn() is called whenever the lesson, its callout or its phase changes; returns an unsubscribe. */
  onChange(fn) {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  changed() {
    for (const fn of this.listeners) fn();
  }

  /** Follow the main run: hold-step reached -> callout; run finished -> "what you saw"; reset -> clear. */
  follow() {
    const active = this.active;
    if (!active) return;
    const run = this.run;
    const script = active.lesson.script;
    const frame = run.frame;
    const state = run.status.state;
    if (!script || !frame || !active.armed) return;
    const total = frame.total_steps || Infinity;
    if (active.done && frame.step < total) { // played again from the start
      active.done = false;
      this.body.querySelector('.lesson-saw').hidden = true;
    }
    if (active.paused && frame.step < script.pause) { // reset or rebuilt: the moment has gone
      active.paused = false;
      this.panels.setCallout(null);
      this.setProgress(`Back at step ${frame.step}: the held moment has passed; pick the lesson again to replay it.`);
      delete this.card.dataset.phase;
      this.changed();
    }
    if (!active.paused && script.pause && state === 'paused' && frame.step === script.pause) {
      active.paused = true;
      const note = script.callout(run); // our own markup: numbers, <br>, <sub>
      this.panels.setCallout(active.lesson.watch, `<b>Step ${frame.step}</b>: ${note}`);
      this.setProgress(`<strong>Held at step ${frame.step}</strong> (the note on the plot): ${note.replace(/<br>/g, '; ')}.
        Press <kbd>Space</kbd> to go on.`);
      this.card.dataset.phase = 'paused';
      this.changed();
    }
    if (active.paused && state === 'running' && this.card.dataset.phase === 'paused') {
      this.card.dataset.phase = 'going';
      this.setProgress(`Going on from step ${script.pause}; its note stays on the plot. The run ends at step ${frame.total_steps}.`);
    }
    if (!active.done && state === 'done' && frame.step >= total) {
      active.done = true;
      const saw = this.body.querySelector('.lesson-saw');
      if (saw && script.saw) {
        saw.innerHTML = `<strong>What you saw:</strong> ${script.saw(run)}`;
        saw.hidden = false;
        this.card.scrollTop = this.card.scrollHeight; // the card scrolls on its own when it is tall
      }
      this.card.dataset.phase = 'done';
      this.changed();
    }
  }

  setProgress(markup) {
    const line = this.body.querySelector('.lesson-progress');
    if (line) line.innerHTML = markup;
  }
}
