// Presenter mode, for a room and a projector: one panel fills the screen with its text at 24 px, under a
// one-line status bar (step, state, which panel, the lesson's callout). Arrow keys (and Page Up/Down)
// move between the panels the run shows; Escape, or the Present button again, leaves. Entering with a
// lesson open shows the panel the lesson watches, whose callout stays on its plot.
import { resizeAll, setPresenting } from './plots/theme.js';

const TYPING = 'input:not([type="checkbox"]):not([type="radio"]), select, textarea, [contenteditable="true"]';
const NEXT = new Set(['ArrowRight', 'ArrowDown', 'PageDown']);
const PREVIOUS = new Set(['ArrowLeft', 'ArrowUp', 'PageUp']);

export class Presenter {
  /** toggle: the Present button; panels: the Panels; lessons: the Lessons (callout, watched panel). */
  constructor({ toggle, panels, lessons }) {
    Object.assign(this, { toggle, panels, lessons });
    this.on = false;
    this.current = null; // the card shown
    this.bar = document.createElement('div');
    this.bar.className = 'presenter-bar';
    this.bar.hidden = true;
    this.bar.innerHTML = `<span class="presenter-where" data-testid="presenter-where"></span>
      <span class="presenter-keys">← → panels · Space play/pause · Esc leaves</span>`;
    toggle.closest('.topbar').insertBefore(this.bar, toggle.closest('.actions'));
    // the lesson's callout, as a caption, while another panel than the one it is drawn on is shown
    this.caption = document.createElement('p');
    this.caption.className = 'presenter-callout';
    this.caption.setAttribute('data-testid', 'presenter-callout');
    this.caption.setAttribute('role', 'status');
    this.caption.hidden = true;
    panels.grid.after(this.caption); // under the panel, in the layout: the panel shrinks to make room, nothing is covered
    toggle.addEventListener('click', () => (this.on ? this.leave() : this.enter()));
    document.addEventListener('keydown', event => this.key(event));
    if (lessons) lessons.onChange(() => this.showCallout());
    // a card hidden while shown (the method changed): show the nearest one still there
    this.watcher = new MutationObserver(() => { if (this.on && (!this.current || this.current.hidden)) this.show(this.cards()[0]); });
    for (const card of Object.values(panels.cards)) this.watcher.observe(card, { attributes: true, attributeFilter: ['hidden'] });
  }

  /** The cards the run shows, in the order they are laid out. */
  cards() {
    const shown = Object.values(this.panels.cards).filter(card => !card.hidden);
    const order = card => Number(getComputedStyle(card).order) || 0;
    return shown.map((card, i) => ({ card, i })).sort((a, b) => order(a.card) - order(b.card) || a.i - b.i).map(x => x.card);
  }

  enter() {
    this.on = true;
    document.documentElement.classList.add('presenting');
    this.toggle.setAttribute('aria-pressed', 'true');
    this.bar.hidden = false;
    setPresenting(true);
    const watched = this.panels.watched && this.panels.cards[this.panels.watched];
    this.show(watched && !watched.hidden ? watched : this.cards()[0]);
    this.showCallout();
    this.refresh();
  }

  leave() {
    if (!this.on) return;
    this.on = false;
    document.documentElement.classList.remove('presenting');
    this.toggle.setAttribute('aria-pressed', 'false');
    this.bar.hidden = true;
    this.caption.hidden = true;
    if (this.current) this.current.classList.remove('presented');
    const left = this.current;
    this.current = null;
    setPresenting(false);
    this.refresh();
    if (left) requestAnimationFrame(() => left.scrollIntoView({ block: 'nearest' }));
    this.toggle.focus({ preventScroll: true });
  }

  /** Show this card (the others are hidden by the stylesheet). */
  show(card) {
    if (this.current) this.current.classList.remove('presented');
    this.current = card || null;
    if (!card) return;
    card.classList.add('presented');
    const cards = this.cards();
    const heading = card.querySelector('h2');
    this.bar.querySelector('.presenter-where').textContent =
      `${cards.indexOf(card) + 1} / ${cards.length} · ${heading ? heading.textContent : ''}`;
    this.showCallout();
    this.refresh();
  }

  move(delta) {
    const cards = this.cards();
    if (!cards.length) return;
    const at = Math.max(0, cards.indexOf(this.current));
    this.show(cards[(at + delta + cards.length) % cards.length]);
  }

  key(event) {
    if (!this.on || event.defaultPrevented || event.altKey || event.ctrlKey || event.metaKey) return;
    if (event.target.closest && event.target.closest(TYPING)) return;
    if (event.key === 'Escape') { event.preventDefault(); this.leave(); }
    else if (NEXT.has(event.key)) { event.preventDefault(); this.move(1); }
    else if (PREVIOUS.has(event.key)) { event.preventDefault(); this.move(-1); }
  }

  /** The lesson's callout is on its plot; on any other panel it shows as a caption. */
  showCallout() {
    const callout = this.lessons ? this.lessons.callout : null;
    this.caption.innerHTML = callout ? callout.text : ''; // our own markup (lessons-data.js): numbers, <b>, <sub>, <br>
    const elsewhere = Boolean(callout) && (!this.current || this.current.id !== `card-${callout.panel}`);
    this.caption.hidden = !(this.on && elsewhere);
  }

  /** New sizes and fonts: resize the plots and draw them again. */
  refresh() {
    requestAnimationFrame(() => { resizeAll(); this.panels.redrawAll(); });
  }
}
