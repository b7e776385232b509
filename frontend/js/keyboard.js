// Keyboard shortcuts for the run: Space play/pause, S step, R reset. They act on the run wherever the
// focus is (a lesson button just clicked, the Play button, a plot), except while typing in a field or
// choosing in a list, and not in the Experiments view. On a focused button Space is the run's key
// (Enter still presses the button): otherwise Space after clicking a lesson would start it again.

const TYPING = 'input:not([type="checkbox"]):not([type="radio"]):not([type="range"]), select, textarea, [contenteditable="true"]';
const CHOOSING = 'input[type="checkbox"], input[type="radio"], input[type="range"]'; // Space or arrows change these
// A held S repeats at the OS's key rate (30+/s on some machines): at most one step per REPEAT_STEP_MS,
// well under the server's per-socket message rate (NCE_MESSAGE_RATE, 30/s by default).
const REPEAT_STEP_MS = 100;

export function bindKeys({ toggle, step, reset }) {
  let lastRepeatStep = 0;
  document.addEventListener('keydown', event => {
    if (event.defaultPrevented || event.altKey || event.ctrlKey || event.metaKey) return;
    if (document.body.classList.contains('experiments-open')) return; // the live run is not on screen
    const target = event.target;
    const inside = selector => Boolean(target.closest && target.closest(selector));
    if (inside(TYPING)) return;
    if (event.key === ' ') {
      if (inside(CHOOSING)) return;
      event.preventDefault(); // also keeps a focused button from being pressed (and the page from scrolling)
      if (!event.repeat) toggle();
    } else if (event.key === 's' || event.key === 'S') {
      if (event.repeat) {
        if (event.timeStamp - lastRepeatStep < REPEAT_STEP_MS) return;
        lastRepeatStep = event.timeStamp;
      }
      step();
    }
    else if (event.key === 'r' || event.key === 'R') reset();
  });
  // A button pressed with Space fires its click on keyup: the keydown above already took the key.
  document.addEventListener('keyup', event => {
    if (event.key !== ' ' || document.body.classList.contains('experiments-open')) return;
    const target = event.target;
    if (target.closest && target.closest('button, a, [role="button"]') && !target.closest(TYPING)) event.preventDefault();
  });
}
