// Keyboard shortcuts (never while typing in a field, nor in the Experiments view): Space play/pause,
// S step, R reset.

export function bindKeys({ toggle, step, reset }) {
  document.addEventListener('keydown', event => {
    if (event.defaultPrevented || event.altKey || event.ctrlKey || event.metaKey) return;
    if (document.body.classList.contains('experiments-open')) return; // the live run is not on screen
    const target = event.target;
    if (target.closest && target.closest('input, select, textarea, [contenteditable="true"]')) return;
    if (target.closest && target.closest('button, a') && (event.key === ' ' || event.key === 'Enter')) return;
    if (event.key === ' ') { event.preventDefault(); toggle(); }
    else if (event.key === 's' || event.key === 'S') step();
    else if (event.key === 'r' || event.key === 'R') reset();
  });
}
