// The panel grid: which cards a method shows, and the render pass over them. A pass runs in an
// animation frame, draws only cards on screen, and redraws a plot only when what it shows has changed
// (the curves over steps at most CURVE_HZ times a second). Passes are spaced so that drawing takes at
// most BUDGET of the page's time: a fast machine draws every frame, a busy one draws fewer, evenly.
// Cards are shown or hidden, never rebuilt.
import { drawDensity1d, zGapNote } from './plots/density1d.js';
import { drawDensity2d } from './plots/density2d.js';
import { KL_RESOLUTION, drawSeries, formatKL } from './plots/curves.js';
import { drawZ, zNote } from './plots/zplot.js';
import { drawGrad, drawWeight, gradNote, weightNote } from './plots/gradient.js';
import { classifierNote, drawClassifier } from './plots/classifier.js';
import { drawCritic, drawMI, miNote } from './plots/cpc.js';
import { emptyNote, draw } from './plots/theme.js';

const CURVE_HZ = 4;
const BUDGET = 0.35;     // most of the main thread that drawing may take
const MIN_GAP_MS = 60;   // passes at most ~16 times a second (frames come ~10 times)
const MAX_GAP_MS = 600;
const COVERAGE_WARN = 0.95; // noise_coverage (models/coverage.py): warn when > 5% of the data's mass is out of q's reach
const $ = id => document.getElementById(id);

function setText(node, text) {
  if (node && node.textContent !== text) node.textContent = text;
}

const arrays = runs => runs.map(r => `${r.id}:${r.versions.arrays}`).join(',');
const frames = runs => runs.map(r => `${r.id}:${r.versions.frame}`).join(',');
const nceRun = runs => runs.find(r => r.method === 'nce');
const densityReady = runs => {
  const dim = runs[0].frame ? runs[0].frame.dim : null;
  return runs.filter(r => r.frame && r.grid.axes && r.grid.log_p && r.frame.dim === dim);
};

/** Each panel: when it shows, what its picture depends on (key), how to draw it, its header note. */
const PANELS = {
  density: {
    show: runs => runs[0].method !== 'cpc',
    key: (runs, opts) => `${arrays(runs)}|${JSON.stringify(opts)}`,
    draw: (el, runs, opts) => {
      const ready = densityReady(runs);
      if (!ready.length) draw(el, [], emptyNote('waiting for the first frame…'));
      else if (ready[0].frame.dim === 2) drawDensity2d(el, ready, opts);
      else drawDensity1d(el, ready, opts);
    },
    note: runs => `${runs[0].frame && runs[0].frame.p_d === 'kde' ? 'p_d is a kernel density estimate of your CSV. ' : ''}${zGapNote(runs[0])}`,
  },
  z: {
    show: runs => runs[0].method !== 'cpc', curve: true, key: frames,
    draw: (el, runs) => drawZ(el, runs), note: runs => zNote(runs[0]),
  },
  loss: {
    show: () => true, curve: true, key: frames,
    draw: (el, runs) => drawSeries(el, runs, { key: 'loss', yTitle: 'loss', smooth: true }),
    note: runs => lossNote(runs[0]),
  },
  kl: {
    show: runs => runs[0].method !== 'cpc', curve: true, key: frames,
    draw: (el, runs) => drawSeries(el, runs, { key: 'kl', yTitle: klTitle(runs[0]), logY: true, floor: KL_RESOLUTION,
      floorText: '< 1e-3', hoverNote: 'by quadrature over the grid’s box' }),
    note: runs => klNote(runs[0]),
  },
  grad: {
    show: runs => runs[0].method !== 'cpc', key: runs => `${runs[0].id}:${runs[0].versions.grad}`,
    draw: (el, runs) => drawGrad(el, runs[0]), note: runs => gradNote(runs[0]),
  },
  weight: {
    show: runs => runs[0].method !== 'cpc', key: runs => arrays([runs[0]]),
    draw: (el, runs) => drawWeight(el, runs[0]), note: runs => weightNote(runs[0]),
  },
  classifier: {
    show: runs => runs[0].method !== 'cpc' && Boolean(nceRun(runs)), key: runs => arrays([nceRun(runs)]),
    draw: (el, runs) => drawClassifier(el, nceRun(runs)), note: runs => classifierNote(nceRun(runs)),
  },
  mi: {
    show: runs => runs[0].method === 'cpc', curve: true, key: frames,
    draw: (el, runs) => drawMI(el, runs), note: runs => miNote(runs[0]),
  },
  critic: {
    show: runs => runs[0].method === 'cpc', key: runs => arrays([runs[0]]),
    draw: (el, runs) => drawCritic(el, runs[0]), note: () => '',
  },
};
const NAMES = Object.keys(PANELS);

export class Panels {
  constructor() {
    this.cards = {};
    this.plots = {};
    this.notes = {};
    for (const name of NAMES) {
      this.cards[name] = $(`card-${name}`);
      this.plots[name] = $(`${name}-plot`);
      this.notes[name] = $(`${name}-note`);
    }
    this.grid = this.cards.density.parentElement;
    this.watched = null;  // the panel a lesson is about: highlighted, scrolled to once it shows
    this.scrollPending = false;
    this.callout = null;  // {panel, text}: a lesson's note on that plot
    this.keepWatched = false; // keep the watched card in view as the cards above it change height, until the user scrolls
    const scroller = this.grid.closest('main');
    const SCROLL_KEYS = new Set(['PageUp', 'PageDown', 'ArrowUp', 'ArrowDown', 'Home', 'End']);
    for (const kind of ['wheel', 'touchstart', 'mousedown', 'keydown']) {
      scroller.addEventListener(kind, event => {
        if (kind !== 'keydown' || SCROLL_KEYS.has(event.key)) this.keepWatched = false;
      }, { passive: true });
    }
    this.warning = $('coverage-warning');
    this.opts = { showData: true, showNoise: false, logScale: false };
    this.pending = false;
    this.source = () => [];
    this.drawn = {};      // name -> key of what the plot shows now
    this.drawnAt = {};    // name -> time of its last draw (curves are rate-limited)
    this.onScreen = new Set();
    this.epoch = 0;       // bumped to redraw everything (new runs, larger text)
    this.lastPass = 0;
    this.cost = 0;        // moving average of a pass's drawing time (ms)
    this.gap = MIN_GAP_MS;
    this.resizer = new ResizeObserver(entries => {
      for (const entry of entries) {
        if (entry.target.data && entry.target.offsetParent !== null) window.Plotly.Plots.resize(entry.target);
      }
    });
    this.viewport = new IntersectionObserver(entries => {
      for (const entry of entries) {
        const name = entry.target.id.replace(/^card-/, '');
        if (entry.isIntersecting) this.onScreen.add(name);
        else this.onScreen.delete(name);
      }
      this.schedule();
    });
    for (const name of NAMES) {
      this.resizer.observe(this.plots[name]);
      this.viewport.observe(this.cards[name]);
    }
  }

  /** Ask for a render pass (in an animation frame, once the spacing allows); `source()` gives the runs, main first. */
  schedule() {
    if (this.pending) return;
    this.pending = true;
    const pass = () => requestAnimationFrame(() => {
      this.pending = false;
      this.render(this.source());
    });
    const wait = this.lastPass + this.gap - performance.now();
    if (wait > 0) setTimeout(pass, wait);
    else pass();
  }

  /** Draw everything again on the next pass (e.g. after the fonts or the runs changed). */
  redrawAll() {
    this.epoch += 1;
    this.schedule();
  }

  render(runs) {
    if (!runs.length || !window.Plotly) return;
    const now = performance.now();
    this.cards.density.classList.toggle('full', runs.length > 1);
    this.grid.classList.toggle('cpc', runs[0].method === 'cpc');
    let later = false;
    let drew = false;
    for (const name of NAMES) {
      const panel = PANELS[name];
      const shown = panel.show(runs);
      if (this.cards[name].hidden === shown) this.cards[name].hidden = !shown;
      if (name === this.watched && shown && (this.scrollPending || this.keepWatched)) this.scrollToWatched();
      // (a card hidden by presenter mode may still count as on screen until its observer reports: not drawn, not marked)
      if (!shown || !this.onScreen.has(name) || this.plots[name].offsetParent === null) continue;
      const key = `${this.epoch}|${runs.map(r => `${r.id}=${r.label}`).join(',')}|${panel.key(runs, this.opts)}`;
      if (key === this.drawn[name]) continue;
      if (panel.curve && now - (this.drawnAt[name] || 0) < 1000 / CURVE_HZ) { later = true; continue; }
      panel.draw(this.plots[name], runs, this.opts);
      setText(this.notes[name], panel.note(runs));
      this.drawn[name] = key;
      this.drawnAt[name] = now;
      drew = true;
    }
    if (drew) {
      const end = performance.now();
      this.cost = 0.7 * this.cost + 0.3 * (end - now);
      this.gap = Math.min(MAX_GAP_MS, Math.max(MIN_GAP_MS, this.cost / BUDGET));
      this.lastPass = end;
    }
    if (later) setTimeout(() => this.schedule(), 1000 / CURVE_HZ);
    this.coverage(runs[0], PANELS.density.show(runs));
  }

  // ---------------------------------------------------------------- lessons: the watched panel
  /** Highlight panel `name` (null: none) and scroll it into view (at once, or when it first shows). */
  watch(name) {
    for (const card of Object.values(this.cards)) card.classList.remove('watched');
    this.watched = name && this.cards[name] ? name : null;
    this.scrollPending = Boolean(this.watched);
    this.keepWatched = Boolean(this.watched);
    if (!this.watched) return;
    this.cards[this.watched].classList.add('watched');
    if (!this.cards[this.watched].hidden) this.scrollToWatched();
    this.schedule();
  }

  /** Scroll the plots so the watched card sits just under the (sticky) lesson card, or as near as it goes. */
  scrollToWatched() {
    const card = this.cards[this.watched];
    const scroller = card.closest('main');
    if (!scroller || card.offsetParent === null || document.documentElement.classList.contains('presenting')) return;
    this.scrollPending = false;
    const lesson = scroller.querySelector('.lesson-card:not([hidden])');
    const top = scroller.getBoundingClientRect().top + (lesson ? lesson.offsetHeight + 10 : 0);
    const off = card.getBoundingClientRect().top - top - 4;
    if (Math.abs(off) > 2) scroller.scrollTop += off;
  }

  /** A lesson's callout: a boxed note on plot `name` (null: take it away). It stays through redraws. */
  setCallout(name, text = '') {
    const previous = this.callout;
    this.callout = name && this.plots[name] ? { panel: name, text } : null;
    if (previous && this.plots[previous.panel]) this.putCallout(this.plots[previous.panel], null);
    if (this.callout) this.putCallout(this.plots[name], text);
  }

  putCallout(el, text) {
    // above the plot area, in a top margin made for it (plots/theme.js withCallout): it covers no data
    el.callout = text ? {
      name: 'lesson-callout', text, xref: 'paper', yref: 'paper', x: 0, y: 1, xanchor: 'left', yanchor: 'bottom',
      yshift: 6, align: 'left', showarrow: false, bgcolor: '#fff4c2', bordercolor: '#b07d00', borderwidth: 1.5,
      borderpad: 4, font: { color: '#16212b' },
    } : null;
    delete this.drawn[el.id.replace(/-plot$/, '')]; // drawn again (with or without it) on the next pass
    this.schedule();
  }

  coverage(main, shown) {
    const f = main.frame;
    // noise_coverage = ∫ p_d · 1[Nᵣq ≥ 0.01 p_d]: the share of the data that NCE's noise reaches (a broad q
    // is fine however little it overlaps; a q beside the data is not)
    const low = shown && f && f.noise_coverage !== null && f.noise_coverage !== undefined
      && f.noise_coverage < COVERAGE_WARN && main.method !== 'mle';
    if (low) {
      const cfg = main.config || {};
      const advice = cfg.noise_fit
        ? `Even fitted to the data’s mean and spread, a ${cfg.noise} q misses much of it: try a heavier-tailed family (student t, mixture, uniform) or a larger Nᵣ.`
        : 'Tick “Fit q to the data”, or move and widen q.';
      const missed = Math.round(100 * (1 - f.noise_coverage));
      setText(this.warning, `q does not reach ${missed}% of the data: there Nᵣq < 1% of p_d, so almost no noise sample `
        + `lands there and NCE's gradient weight Nᵣq / (p_θ + Nᵣq) is under 0.01: nothing pins p_θ down. ${advice}`);
    }
    if (this.warning.hidden === Boolean(low)) this.warning.hidden = !low;
  }
}

function lossNote(run) {
  const f = run.frame;
  if (!f || f.loss === null || f.loss === undefined) return '';
  const negatives = f.negatives_per_step ? ` · ${f.negatives_per_step} noise samples per step` : '';
  return `now ${f.loss.toPrecision(4)}${negatives}`;
}

function klNote(run) {
  const f = run.frame;
  if (!f || f.kl === null || f.kl === undefined) return '';
  return `now ${formatKL(f.kl)} nats${f.p_d === 'kde' ? ' vs KDE (a kernel density estimate of your data stands in for p_d)' : ''}`
    + ', over the grid’s box';
}

/** The KL axis: against the KDE for uploaded data (p_d is not known there). */
function klTitle(run) {
  return run.frame && run.frame.p_d === 'kde' ? 'KL(KDE ‖ p_θ) vs KDE (nats, log)' : 'KL over the grid box (nats, log)';
}
