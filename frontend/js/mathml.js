// A few helpers that write MathML (rendered natively by the browser: no script, works offline).

export const mi = s => `<mi>${s}</mi>`;
export const mn = s => `<mn>${s}</mn>`;
export const mo = s => `<mo>${s}</mo>`;
export const mtext = s => `<mtext>${s}</mtext>`;
export const row = (...parts) => `<mrow>${parts.join('')}</mrow>`;
export const sub = (base, index) => `<msub>${base}${index}</msub>`;
export const sup = (base, power) => `<msup>${base}${power}</msup>`;
export const frac = (top, bottom) => `<mfrac>${row(top)}${row(bottom)}</mfrac>`;
export const under = (base, below) => `<munder>${base}${below}</munder>`;
export const over = (base, above) => `<mover>${base}${above}</mover>`;
export const underover = (base, below, above) => `<munderover>${base}${below}${above}</munderover>`;
export const paren = (...parts) => `${mo('(')}${parts.join('')}${mo(')')}`;
export const bracket = (...parts) => `${mo('[')}${parts.join('')}${mo(']')}`;

/** A displayed equation; `label` is read by screen readers. */
export const block = (label, ...parts) => `<math display="block" aria-label="${label}">${row(...parts)}</math>`;
export const inline = (...parts) => `<math>${row(...parts)}</math>`;

// The note's symbols
export const x = mi('x');
export const ofx = f => `${f}${paren(x)}`;
export const pd = sub(mi('p'), mi('d'));
export const ptheta = sub(mi('p'), mi('θ'));
export const q = mi('q');
export const Nr = sub(mi('N'), mi('r'));
export const G = `${mi('G')}${paren(x, mo(';'), mi('θ'))}`;
export const Z = sub(mi('Z'), mi('θ'));
export const Zhat = mi('Ẑ');
export const grad = sub(mo('∇'), mi('θ'));
export const loss = name => sub(mi('ℒ'), mtext(name));
export const sum = under(mo('∑'), x);
export const log = mi('log');
export const sigma = mi('σ');
