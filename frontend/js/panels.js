// The panel grid: which cards a method shows, and the render pass over them. A pass runs in an
// animation frame, draws only cards on screen, and redraws a plot only when what it shows has changed
// (the curves over steps at most CURVE_HZ times a second). Passes are spaced so that drawing takes at
// most BUDGET of the page's time: a fast machine draws every frame, a busy one draws fewer, evenly.
// Cards are shown or hidden, never rebuilt.
import { drawDensity1d, zGapNote } from './plots/density1d.js';
import { drawDensity2d } from './plots/density2d.js';
import { drawSeries } from './plots/curves.js';
import { drawZ, zNote } from './plots/zplot.js';
import { drawGrad, drawWeight, gradNote, weightNote } from './plots/gradient.js';
import { classifierNote, drawClassifier } from './plots/classifier.js';
import { drawCritic, drawMI, miNote } from './plots/cpc.js';
import { emptyNote, draw } from './plots/theme.js';

const CURVE_HZ = 4;
const BUDGET = 0.35;     // most of the main thread that drawing may take
const MIN_GAP_MS = 60;   // passes at most ~16 times a second (frames come ~10 times)
const MAX_GAP_MS = 600;
const COVERAGE_WARN = 0.3;
const COVERAGE_WARN_FITTED = 0.1;
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
    draw: (el, runs) => drawSeries(el, runs, { key: 'kl', yTitle: 'KL (nats, log scale)', logY: true }),
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
      if (!shown || !this.onScreen.has(name)) continue;
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

  coverage(main, shown) {
    const f = main.frame;
    // A q placed by hand warns below 0.3; a fitted q is the best its family can do, and on peaky 2-D
    // data even a good one overlaps little (eight gaussians: 0.22), so it warns only when hopeless.
    const limit = main.config && main.config.noise_fit ? COVERAGE_WARN_FITTED : COVERAGE_WARN;
    const low = shown && f && f.noise_coverage !== null && f.noise_coverage !== undefined
      && f.noise_coverage < limit && main.method !== 'mle';
    if (low) {
      const cfg = main.config || {};
      const advice = cfg.noise_fit
        ? `Even fitted to the data’s mean and spread, a ${cfg.noise} q misses much of it: try a heavier-tailed family (student t, mixture, uniform) or a larger Nᵣ.`
        : 'Tick “Fit q to the data”, or move and widen q.';
      setText(this.warning, `q covers the data poorly: ∫ min(p_d, q) = ${f.noise_coverage.toFixed(2)} (1 = full overlap). `
        + `Few noise samples land where the data is, so NCE learns slowly or learns the wrong density. ${advice}`);
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
  return `now ${f.kl.toPrecision(3)} nats${f.p_d === 'kde' ? ' (against the KDE of your data)' : ''}`;
}
