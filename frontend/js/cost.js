// What the run costs on the server, shown next to the heavy knobs: "~120 MB of 512 MB · ~300 steps/s".
// The numbers are the server's prediction (models/cost.py), carried by every `config` reply; when a change
// is refused for the per-session budget (memory, or seconds per step), the line shows the refusal instead (it names the knobs).

const BUDGET_SETTINGS = ['NCE_SESSION_MEMORY_MB', 'NCE_MAX_STEP_SECONDS']; // every budget refusal names one (docs/protocol.md)

/** '~12 MB', '~1.5 GB'. */
export function formatMemory(mb) {
  if (mb >= 1024) return mb < 10 * 1024 ? `~${(mb / 1024).toFixed(1)} GB` : `~${Math.round(mb / 1024)} GB`;
  return mb >= 10 ? `~${Math.round(mb)} MB` : `~${mb.toFixed(1)} MB`;
}

/** '~300 steps/s', '~4 steps/s', '~46 s/step'. */
export function formatSpeed(secondsPerStep) {
  if (!(secondsPerStep > 0)) return '';
  const perSecond = 1 / secondsPerStep;
  if (perSecond >= 10) return `~${Math.round(perSecond).toLocaleString('en')} steps/s`;
  if (perSecond >= 1) return `~${perSecond.toFixed(1)} steps/s`;
  return `~${secondsPerStep < 10 ? secondsPerStep.toFixed(1) : Math.round(secondsPerStep)} s/step`;
}

/** The line's text for a config reply's `cost` ({memory_mb, seconds_per_step, budget_mb, ok, message}). */
export function describeCost(cost) {
  const memory = cost.budget_mb ? `${formatMemory(cost.memory_mb)} of ${cost.budget_mb.toLocaleString('en')} MB`
    : formatMemory(cost.memory_mb);
  const speed = formatSpeed(cost.seconds_per_step);
  return speed ? `${memory} · ${speed}` : memory;
}

export class CostLine {
  /** host: the element the line goes in (a knob's widget); nothing is shown without one. */
  constructor(host) {
    this.line = document.createElement('p');
    this.line.className = 'hint cost';
    this.line.dataset.testid = 'cost';
    this.line.title = 'Predicted on the server: the peak memory of this run and its training speed on one core '
      + '(approximate). A run over the server\'s memory budget per session is refused.';
    this.line.hidden = true;
    if (host) host.append(this.line);
  }

  /** A config reply's prediction (absent from an older server: the line stays as it was). */
  show(cost) {
    if (!cost) return;
    this.line.textContent = describeCost(cost);
    this.line.classList.remove('error-text');
    this.line.hidden = false;
  }

  /** A refused change or start: shown here when it is the memory budget's refusal. */
  refused(text) {
    if (!text || !BUDGET_SETTINGS.some(setting => text.includes(setting))) return;
    this.line.textContent = `Not applied: ${text}`;
    this.line.classList.add('error-text');
    this.line.hidden = false;
  }
}
