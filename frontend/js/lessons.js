// The lessons strip and the lesson card. Picking a lesson hands its knobs to the controller; a button
// in a lesson with data-experiment="name" opens that experiment (onExperiment).
import { LESSONS } from './lessons-data.js';

export class Lessons {
  constructor({ strip, card, title, body, close, onPick, onClose, onExperiment }) {
    Object.assign(this, { strip, card, title, body });
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
      button.addEventListener('click', () => { this.show(lesson); onPick(lesson); });
      strip.append(button);
      this.buttons.set(lesson.id, button);
    }
    close.addEventListener('click', () => { this.hide(); if (onClose) onClose(); });
  }

  show(lesson) {
    this.title.textContent = lesson.title;
    this.body.innerHTML = lesson.body; // static, trusted markup (text and MathML), no script
    this.card.hidden = false;
    this.card.dataset.lesson = lesson.id;
    for (const [id, button] of this.buttons) button.setAttribute('aria-pressed', String(id === lesson.id));
  }

  hide() {
    this.card.hidden = true;
    delete this.card.dataset.lesson;
    for (const button of this.buttons.values()) button.setAttribute('aria-pressed', 'false');
  }

  byId(id) {
    return LESSONS.find(l => l.id === id);
  }
}
