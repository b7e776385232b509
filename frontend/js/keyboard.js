// Keyboard shortcuts (never while typing in a field): Space play/pause, S step, R reset.

export function bindKeys({ toggle, step, reset }) {
  document.addEventListener('keydown', event => {
    if (event.defaultPrevented || event.altKey || event.ctrlKey || event.metaKey) return;
    const target = event.target;
    if (target.closest && target.closest('input, select, textarea, [contenteditable="true"]')) return;
    if (target.closest && target.closest('button, a') && (event.key === ' ' || event.key === 'Enter')) return;
    if (event.key === ' ') { event.preventDefault(); toggle(); }
    else if (event.key === 's' || event.key === 'S') step();
    else if (event.key === 'r' || event.key === 'R') reset();
  });
}
