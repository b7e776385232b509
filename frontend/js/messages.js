// Messages in the page: errors and warnings stay until dismissed (or replaced by one with the same
// key); notes fade after a few seconds. The page stays usable under every message.

const INFO_MS = 6000;
const MAX_SHOWN = 4;

export class Messages {
  constructor(root) {
    this.root = root;
    this.byKey = new Map();
  }

  /** level: 'info' | 'warn' | 'error'. A message with the same key replaces the earlier one.
   *  action: optional {label, run} shown as a button (e.g. "Reconnect"). */
  show(text, level = 'info', key = text, action = null) {
    this.clear(key);
    const box = document.createElement('div');
    box.className = `msg ${level}`;
    box.setAttribute('role', level === 'error' ? 'alert' : 'status');
    box.dataset.level = level;
    box.dataset.key = key;
    const body = document.createElement('span');
    body.className = 'text';
    body.textContent = text;
    const close = document.createElement('button');
    close.type = 'button';
    close.setAttribute('aria-label', 'Dismiss this message');
    close.textContent = '×';
    close.addEventListener('click', () => this.clear(key));
    box.append(body);
    if (action) {
      const button = document.createElement('button');
      button.type = 'button';
      button.className = 'action';
      button.textContent = action.label;
      button.addEventListener('click', () => { this.clear(key); action.run(); });
      box.append(button);
    }
    box.append(close);
    this.root.prepend(box);
    const entry = { box, timer: null };
    if (level === 'info') entry.timer = setTimeout(() => this.clear(key), INFO_MS);
    this.byKey.set(key, entry);
    while (this.root.children.length > MAX_SHOWN) {
      const last = this.root.lastElementChild;
      this.clear(last.dataset.key);
    }
    return box;
  }

  info(text, key, action) { return this.show(text, 'info', key, action); }
  warn(text, key, action) { return this.show(text, 'warn', key, action); }
  error(text, key, action) { return this.show(text, 'error', key, action); }

  clear(key) {
    const entry = this.byKey.get(key);
    if (!entry) return;
    clearTimeout(entry.timer);
    entry.box.remove();
    this.byKey.delete(key);
  }
}
