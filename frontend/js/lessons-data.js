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
    body: `<p>The note’s eq. 44–47: NCE’s gradient is MLE’s with every x weighted by N<sub>r</sub>q / (p<sub>θ</sub> + N<sub>r</sub>q).
      As N<sub>r</sub> grows the weight goes to 1 and the two gradients coincide:</p>
      ${block('minus gradient of the NCE loss equals the sum over x of the weight times p d minus p theta times the gradient of log p theta, which tends to minus the gradient of the MLE loss as N r grows',
        mo('−'), grad, loss('NCE'), mo('='), sum, weight, bracket(ofx(pd), mo('−'), ofx(ptheta)), grad, log, ofx(ptheta),
        to(row(Nr, mo('→'), mi('∞'))), mo('−'), grad, loss('MLE'))}
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
    body: `<p>NCE only needs q(x) &gt; 0 wherever p<sub>d</sub>(x) &gt; 0 — in theory. In practice q must also put
      <em>samples</em> where the data is. Here q is a narrow bump between the two modes: out there no noise ever shows up,
      the log-odds h is huge and the classifier wins without learning p<sub>d</sub>.</p>
      ${block('h of x equals G minus log Z hat minus log q minus log N r; coverage is the integral of min of p d and q',
        h, mo('='), G, mo('−'), log, Zhat, mo('−'), log, ofx(q), mo('−'), log, Nr, mo(','), mspace(),
        mtext('coverage'), mo('='), `<mo>∫</mo>`, mi('min'), paren(pd, mo(','), q), mi('d'), x)}
      <p class="watch">Watch the yellow coverage warning, the slow Z panel and the model’s wrong tails. Tick
      “Fit q to the data” to repair it.</p>`,
  },
  {
    id: 'far-noise',
    title: '4 · Bad noise: too far',
    short: '4 · Far q',
    knobs: { method: 'nce', data: 'bimodal', noise: 'gaussian', noise_fit: false, noise_loc: 7, noise_scale: 1, nr: 10 },
    watch: 'weight',
    body: `<p>Noise that lives somewhere else is trivially told apart from the data: the loss drops at once, yet
      p<sub>θ</sub> barely moves. Where the data is, N<sub>r</sub>q ≪ p<sub>θ</sub>, so the weight on the data’s pull is almost zero:</p>
      ${block('when N r q is much smaller than p theta the weight is about N r q over p theta, nearly zero',
        weight, mo('≈'), frac(`${Nr}${ofx(q)}`, ofx(ptheta)), mo('≈'), mn(0), mspace(),
        mtext(' where '), ofx(pd), mo('>'), mn(0))}
      <p class="watch">Watch the weight panel (flat at 0 over the data) and the KL panel (stuck). Move the q location
      back towards 0 and see learning start.</p>`,
  },
  {
    id: 'infonce-z',
    title: '5 · InfoNCE cannot learn Z',
    short: '5 · InfoNCE & Z',
    knobs: { method: 'infonce', data: 'bimodal', k: 16 },
    watch: 'z',
    body: `<p>Ranking NCE picks the data point out of k + 1 candidates with scores s = G − log q. Adding a constant c to
      G multiplies every term by e<sup>c</sup>, so the loss cannot tell Ẑ from cẐ:</p>
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
