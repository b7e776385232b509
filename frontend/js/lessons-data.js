// The guided lessons: each is a short explanation, its equation (MathML) and the knobs it sets.
// Knobs not named take their defaults, so a lesson always starts from the same place.
import {
  G, Nr, Z, Zhat, block, bracket, frac, grad, inline, log, loss, mi, mn, mo, mtext, ofx, over, paren, pd, ptheta, q,
  row, sigma, sub, sum, sup, under, underover, x,
} from './mathml.js';

const weight = frac(`${Nr}${ofx(q)}`, `${ofx(ptheta)}${mo('+')}${Nr}${ofx(q)}`);
const h = `${mi('h')}${paren(x)}`;
const to = cond => over(mo('⟶'), row(cond));

export const LESSONS = [
  {
    id: 'nce-learns-z',
    title: '1 · NCE learns Z',
    short: '1 · NCE learns Z',
    knobs: { method: 'nce', data: 'bimodal', nr: 10, learn_log_z: true },
    watch: 'z',
    script: { // held where the learned normaliser can be checked against the true one
      pause: 300,
      callout: run => `log Ẑ − log Z = ${signed(gapZ(run.frame))}<br>(it was ${signed(gapZ(firstRow(run)))} at step 0)`,
      saw: run => `by step ${run.frame.step} the learned log Ẑ sat ${abs(gapZ(run.frame))} from the true log Z (it started
        ${abs(gapZ(firstRow(run)))} away). NCE estimated the normaliser by telling data from noise, without integrating e<sup>G</sup> once.`,
    },
    body: `<p>NCE never integrates e<sup>G</sup>. It keeps log Ẑ as one more parameter and trains a classifier to tell
      data from N<sub>r</sub> times as much noise q. The classifier is best only when e<sup>G − log Ẑ</sup> <em>is</em> the
      data density, so the learned log Ẑ has to land on the true one:</p>
      ${block('P of C equals 1 given x equals p theta over p theta plus N r q; at the optimum log Z hat equals log Z theta',
        `${mi('P')}${paren(mi('C'), mo('='), mn(1), mo('|'), x)}`, mo('='),
        frac(ofx(ptheta), `${ofx(ptheta)}${mo('+')}${Nr}${ofx(q)}`), mo(','), mspace(),
        `${ofx(ptheta)}`, mo('='), frac(sup(mi('e'), row(G)), Zhat), mo(','), mspace(),
        log, Zhat, to(mtext('optimum')), log, Z, mo('='), log, `<mo>∫</mo>`, sup(mi('e'), row(G)), mi('d'), x)}
      <p class="watch">Watch the Z panel: the dashed learned line meets the true one. In the density panel the
      dash-dot curve e<sup>G − log Ẑ</sup> settles onto p<sub>θ</sub>.</p>`,
  },
  {
    id: 'nr-to-mle',
    title: '2 · Large Nᵣ: NCE → MLE',
    short: '2 · Nᵣ → ∞',
    knobs: { method: 'nce', data: 'bimodal', nr: 0.3 },
    watch: 'grad',
    script: {
      pause: 100,
      callout: run => `at N<sub>r</sub> = ${run.config.nr}: cos(g<sub>NCE</sub>, g<sub>MLE</sub>) = ${fixed(run.frame.grad_cos, 3)}<br>drag N<sub>r</sub> up and watch ◆ climb`,
      saw: run => `at N<sub>r</sub> = ${run.config.nr} the two gradients ended with cos = ${fixed(run.frame.grad_cos, 3)}. The more noise per
        data point, the closer NCE’s gradient is to MLE’s: the weight N<sub>r</sub> q / (p<sub>θ</sub> + N<sub>r</sub> q) goes to 1.`,
    },
    body: `<p>What the gradient panel computes: NCE’s gradient with log Ẑ held at the true log Z, which is MLE’s
      gradient Σ (p<sub>d</sub> − p<sub>θ</sub>) ∇<sub>θ</sub>G with every x weighted by N<sub>r</sub>q / (p<sub>θ</sub> + N<sub>r</sub>q).
      As N<sub>r</sub> grows the weight goes to 1 and the two gradients coincide:</p>
      ${block('minus gradient of the NCE loss equals the sum over x of the weight times p d minus p theta times the gradient of G, which tends to minus the gradient of the MLE loss as N r grows',
        mo('−'), grad, loss('NCE'), mo('='), sum, weight, bracket(ofx(pd), mo('−'), ofx(ptheta)), grad, G,
        to(row(Nr, mo('→'), mi('∞'))), mo('−'), grad, loss('MLE'))}
      <p>The note’s eq. 44 has ∇<sub>θ</sub> log p<sub>θ</sub> = ∇<sub>θ</sub>G − ∇<sub>θ</sub> log Z<sub>θ</sub> in place of
      ∇<sub>θ</sub>G: it differentiates through log Z<sub>θ</sub>, as if the classifier used the normalised p<sub>θ</sub>.
      NCE keeps log Ẑ as a parameter of its own, so the form above is what it does to θ. The two differ by
      ∇<sub>θ</sub> log Z<sub>θ</sub> · Σ w (p<sub>d</sub> − p<sub>θ</sub>), which vanishes only as N<sub>r</sub> → ∞ (or under
      the note’s Z<sub>θ</sub> = 1); at N<sub>r</sub> = 0.1 they can point apart.</p>
      <p class="watch">Drag the N<sub>r</sub> slider from 0.1 to 1000 while it runs: the marker in the gradient panel rides
      up the cosine curve towards 1, and the weight panel fills up to 1 where the data is.</p>
      <p>How close to MLE on a finite sample? With q = p<sub>d</sub> NCE’s mean squared error is (1 + 1/N<sub>r</sub>) times
      the Cramér–Rao bound that MLE attains (Gutmann &amp; Hyvärinen 2012, Theorem 3). <button type="button" class="lesson-action" data-experiment="efficiency"
      data-testid="lesson-open-experiment">Open the efficiency experiment</button></p>`,
  },
  {
    id: 'narrow-noise',
    title: '3 · Bad noise: too narrow',
    short: '3 · Narrow q',
    knobs: { method: 'nce', data: 'bimodal', noise: 'gaussian', noise_fit: false, noise_loc: 0, noise_scale: 0.35, nr: 10 },
    watch: 'density',
    script: {
      pause: 300,
      callout: run => `KL(p<sub>d</sub> ‖ p<sub>θ</sub>) = ${fixed(run.frame.kl, 3)} nats<br>(step 0: ${fixed(firstRow(run).kl, 3)})`,
      saw: run => `with q a narrow bump, KL ended at ${fixed(run.frame.kl, 3)} nats. Where q draws no samples the classifier
        never sees noise, so nothing pins p<sub>θ</sub> down there.`,
    },
    body: `<p>NCE only needs q(x) &gt; 0 wherever p<sub>d</sub>(x) &gt; 0 — in theory. In practice q must also put
      <em>samples</em> where the data is. Here q is a narrow bump between the two modes: out there no noise ever shows up,
      the log-odds h is huge and the classifier wins without learning p<sub>d</sub>.</p>
      ${block('h of x equals G minus log Z hat minus log q minus log N r; coverage is the share of the data where N r q is at least 1 percent of p d',
        h, mo('='), G, mo('−'), log, Zhat, mo('−'), log, ofx(q), mo('−'), log, Nr, mo(','), mspace(),
        mtext('coverage'), mo('='), `<mo>∫</mo>`, ofx(pd), '<mn mathvariant="bold">1</mn>',
        bracket(Nr, ofx(q), mo('≥'), mn('0.01'), ofx(pd)), mi('d'), x)}
      <p class="watch">Watch the yellow coverage warning, the slow Z panel and the model’s wrong tails. Tick
      “Fit q to the data” to repair it.</p>`,
  },
  {
    id: 'far-noise',
    title: '4 · Bad noise: too far',
    short: '4 · Far q',
    knobs: { method: 'nce', data: 'bimodal', noise: 'gaussian', noise_fit: false, noise_loc: 7, noise_scale: 1, nr: 10 },
    watch: 'weight',
    script: {
      pause: 100,
      callout: run => `KL went from ${fixed(firstRow(run).kl, 2)} to ${fixed(run.frame.kl, 2)} nats<br>mean weight under p<sub>d</sub>: ${fixed(meanWeight(run), 2)}`,
      saw: run => `KL went from ${fixed(firstRow(run).kl, 2)} nats at step 0 up to ${fixed(highest(run, 'kl'), 2)}, and ended at
        ${fixed(run.frame.kl, 2)}: noise this far from the data is told apart at once, and that teaches the model little about p<sub>d</sub>.`,
    },
    body: `<p>Noise that lives somewhere else is told apart from the data at once: the loss drops near 0 within
      20 steps. Then nothing holds p<sub>θ</sub> in place. At first, where the data is, N<sub>r</sub>q ≪ p<sub>θ</sub>, so the weight is
      almost zero, and with it both halves of the gradient there: the data’s pull up and the −p<sub>θ</sub>∇G push down that keeps MLE
      from piling mass where the data is not:</p>
      ${block('when N r q is much smaller than p theta the weight is about N r q over p theta, nearly zero',
        weight, mo('≈'), frac(`${Nr}${ofx(q)}`, ofx(ptheta)), mo('≈'), mn(0), mspace(),
        mtext(' where '), ofx(pd), mo('>'), mn(0))}
      <p>The only push left is the noise’s, pressing G down near q. The network bends G down on q’s side and up on the
      other, so p<sub>θ</sub> runs off to the left edge of the box, away from q: by step 100 KL has gone from about 0.7 to
      3–15 nats (by seed) and the true log Z has climbed (to 19 with seed 0), while log Ẑ hardly moves. p<sub>θ</sub> has
      left the right mode, so there it falls below N<sub>r</sub>q and the weight rises (to ≈ 1 with seed 0); over the left
      mode, where p<sub>θ</sub> piled up, it stays at 0. Later steps undo some of it, unevenly: at step 600 KL is about 0.25 with
      seeds 1–2, still 3–9 with seeds 0 and 3.</p>
      <p class="watch">Watch the weight panel (0 over the left mode, up to 1 over the right one that p<sub>θ</sub> has left),
      the density panel (p<sub>θ</sub> leaves the data) and the KL panel (it climbs). Move the q location back towards 0
      and see learning start.</p>`,
  },
  {
    id: 'infonce-z',
    title: '5 · InfoNCE cannot learn Z',
    short: '5 · InfoNCE & Z',
    knobs: { method: 'infonce', data: 'bimodal', k: 16 },
    watch: 'z',
    script: {
      pause: 300,
      callout: run => `log Ẑ moved by ${fixed(Math.abs(run.frame.log_z_est - firstRow(run).log_z_est), 4)} since step 0<br>log Z = ${fixed(run.frame.log_z_true, 2)}`,
      saw: run => `log Ẑ ended ${fixed(Math.abs(run.frame.log_z_est - firstRow(run).log_z_est), 4)} from where it started
        while the true log Z is ${fixed(run.frame.log_z_true, 2)}: the ranking loss learns the shape of p<sub>θ</sub>, never its normaliser.`,
    },
    body: `<p>Ranking NCE picks the data point out of k + 1 candidates with scores s = G − log q. Adding a constant c to
      G multiplies every term by e<sup>c</sup>, so the loss cannot tell Ẑ from e<sup>c</sup>·Ẑ:</p>
      ${block('the InfoNCE loss is minus the expected log of e to the s of x zero over the sum of e to the s of x i, unchanged by G plus c',
        loss('InfoNCE'), mo('='), mo('−'), mi('𝔼'), log,
        frac(sup(mi('e'), row(sub(mi('s'), mn(0)))), row(underover(mo('∑'), row(mi('i'), mo('='), mn(0)), mi('k')), sup(mi('e'), row(sub(mi('s'), mi('i')))))),
        mo(','), mspace(), frac(row(mo('∂'), loss('InfoNCE')), row(mo('∂'), log, Zhat)), mo('='), mn(0))}
      <p class="watch">The shape of p<sub>θ</sub> (normalised by quadrature) is learned, but the Z panel shows log Ẑ as a
      flat line: no gradient ever reaches it.</p>`,
  },
  {
    id: 'cpc-ceiling',
    title: '6 · CPC saturates at log(batch)',
    short: '6 · CPC ceiling',
    knobs: { method: 'cpc', mi: 5, batch_size: 32 },
    watch: 'mi',
    script: {
      pause: 300,
      callout: run => `Î = ${fixed(run.frame.mi_estimate, 2)} ≤ log ${run.config.batch_size} = ${fixed(run.frame.mi_cap, 2)}<br>true MI = ${fixed(run.frame.mi_true, 2)}`,
      saw: run => `with a batch of ${run.config.batch_size} the estimate ended at ${fixed(run.frame.mi_estimate, 2)}, under
        log ${run.config.batch_size} = ${fixed(run.frame.mi_cap, 2)}, while the pairs share ${fixed(run.frame.mi_true, 2)} nats.`,
    },
    body: `<p>CPC’s InfoNCE loss bounds the mutual information from below, and since the loss is never negative the
      estimate can never pass log N for a batch of N:</p>
      ${block('the estimate, log N minus the InfoNCE loss, is at most the smaller of I of x and y and log N',
        mi('Î'), mo('='), log, mi('N'), mo('−'), loss('InfoNCE'), mo('≤'), mi('min'),
        paren(mi('I'), paren(x, mo(';'), mi('y')), mo(','), mspace(), log, mi('N')))}
      <p class="watch">The pairs share 5 nats but log 32 ≈ 3.47: the estimate flattens under the red ceiling. Raise the
      batch size (log 1024 ≈ 6.93) and the ceiling lifts above the truth.</p>`,
  },
  {
    id: 'mle-vs-nce-2d',
    title: '7 · MLE vs NCE in 2-D',
    short: '7 · MLE vs NCE 2-D',
    knobs: { data: 'eight_gaussians', nr: 10 },
    compare: ['mle', 'nce'],
    watch: 'density',
    script: {
      pause: 200,
      callout: () => 'both runs held at the same step<br>the table above: KL and steps/s side by side',
      saw: () => `the table holds both runs at one final step, KL and steps/s side by side. MLE paid for the whole grid
        at every step, NCE only for its B(1 + N<sub>r</sub>) samples.`,
    },
    body: `<p>MLE needs Z<sub>θ</sub> at every step: here a sum over every cell of the grid, a cost that grows with the
      grid (and is hopeless in high dimensions). NCE evaluates G only at the B(1 + N<sub>r</sub>) sampled points:</p>
      ${block('MLE cost per step is the grid size squared plus B; NCE cost is B times 1 plus N r',
        mtext('MLE: '), Z, mo('='), under(mo('∑'), mtext('grid')), sup(mi('e'), row(G)), mi('Δ'), mo(','), mspace(),
        mtext('NCE: '), mi('B'), paren(mn(1), mo('+'), Nr), mtext(' samples'))}
      <p class="watch">Compare steps/s (cost per step) and KL (the result) in the table, and the two learned maps side by side.</p>`,
  },
  {
    id: 'classifier',
    title: '8 · NCE is logistic regression',
    short: '8 · Classifier',
    knobs: { method: 'nce', data: 'laplace', nr: 1 },
    watch: 'classifier',
    script: {
      pause: 300,
      callout: run => `mean |σ(h) − target| where the data is: ${fixed(posteriorGap(run), 3)}`,
      saw: run => `the classifier’s posterior ended ${fixed(posteriorGap(run), 3)} from the Bayes-optimal p<sub>d</sub> / (p<sub>d</sub> + N<sub>r</sub> q) on
        average over the data: training NCE is training this classifier.`,
    },
    body: `<p>The note’s appendix: NCE is a binary classifier whose log-odds are built from the model. Trained to the
      optimum its posterior is the Bayes-optimal one for data against N<sub>r</sub>q:</p>
      ${block('P of C equals 1 given x equals sigma of h, which tends to p d over p d plus N r q',
        `${mi('P')}${paren(mi('C'), mo('='), mn(1), mo('|'), x)}`, mo('='), sigma, paren(h), to(mtext('optimum')),
        frac(ofx(pd), `${ofx(pd)}${mo('+')}${Nr}${ofx(q)}`))}
      <p class="watch">Watch the classifier panel: the solid posterior closes onto the dashed target.</p>`,
  },
  {
    id: 'z-equals-one',
    title: '9 · Z = 1: self-normalisation',
    short: '9 · Z = 1',
    knobs: { method: 'nce', data: 'gaussian', learn_log_z: false, nr: 10 },
    watch: 'z',
    script: {
      pause: 300,
      callout: run => `log Z = ${fixed(run.frame.log_z_true, 3)} (step 0: ${fixed(firstRow(run).log_z_true, 2)})<br>log Ẑ is held at 0`,
      saw: run => `with log Ẑ held at 0 the network’s own log Z went from ${fixed(firstRow(run).log_z_true, 2)} to
        ${fixed(run.frame.log_z_true, 3)}: it normalised itself.`,
    },
    body: `<p>The note sets Z<sub>θ</sub> = 1 and still recovers θ<sub>MLE</sub>. With log Ẑ held at 0 the only way
      to win the classification is for the network itself to integrate to one:</p>
      ${block('with log Z hat fixed at 0, e to the G tends to p d and the integral of e to the G tends to 1',
        log, Zhat, mo('='), mn(0), mspace(), mo('⇒'), mspace(), sup(mi('e'), row(G)), mo('→'), ofx(pd), mo(','), mspace(),
        `<mo>∫</mo>`, sup(mi('e'), row(G)), mi('d'), x, mo('→'), mn(1))}
      <p class="watch">Watch the true log Z in the Z panel go to 0 ${inline(row(mo('('), Z, mo('→'), mn(1), mo(')')))}.</p>`,
  },
];

function mspace() {
  return '<mspace width="1em"></mspace>';
}

// ---------------------------------------------------------------- numbers for the lesson scripts
// (their callouts and "what you saw" lines quote the run, so they stay true whatever it does)
function fixed(value, digits) {
  return value === null || value === undefined || !Number.isFinite(value) ? '–' : value.toFixed(digits);
}
function signed(value) {
  return value === null || !Number.isFinite(value) ? '–' : `${value >= 0 ? '+' : '−'}${Math.abs(value).toFixed(3)}`;
}
function abs(value) {
  return value === null || !Number.isFinite(value) ? '–' : Math.abs(value).toFixed(3);
}
/** log Ẑ − log Z of a frame or history row (null where the method has no log Ẑ). */
function gapZ(row) {
  return row && row.log_z_est !== null && row.log_z_est !== undefined && row.log_z_true !== null
    ? row.log_z_est - row.log_z_true : null;
}
/** The largest value of a history column so far. */
function highest(run, key) {
  const values = run.history.rows.map(r => r[key]).filter(v => v !== null && Number.isFinite(v));
  return values.length ? Math.max(...values) : null;
}
/** Σ p_d w / Σ p_d over the 1-D grid: the mean NCE weight N_r q / (p_θ + N_r q) where the data is. */
function meanWeight(run) {
  const g = run.grid;
  if (!g || !g.weight || !g.log_pd || Array.isArray(g.weight[0])) return null;
  let num = 0;
  let den = 0;
  g.weight.forEach((w, i) => {
    const pd = Math.exp(g.log_pd[i]);
    if (w === null || !Number.isFinite(pd)) return;
    num += pd * w;
    den += pd;
  });
  return den > 0 ? num / den : null;
}
/** The first row the page recorded (step 0 of the lesson's run). */
function firstRow(run) {
  return run.history.rows[0] || {};
}
/** Σ p_d |σ(h) − p_d / (p_d + N_r q)| / Σ p_d over the 1-D grid: the classifier's distance from its optimum. */
function posteriorGap(run) {
  const g = run.grid;
  const nr = run.config && run.config.nr;
  if (!g || !g.posterior || !g.log_pd || !g.log_q || !nr || Array.isArray(g.posterior[0])) return null;
  let num = 0;
  let den = 0;
  g.posterior.forEach((post, i) => {
    const pd = Math.exp(g.log_pd[i]);
    const target = pd / (pd + nr * Math.exp(g.log_q[i]));
    if (post === null || !Number.isFinite(target)) return;
    num += pd * Math.abs(post - target);
    den += pd;
  });
  return den > 0 ? num / den : null;
}
