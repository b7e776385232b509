// A few helpers that write MathML (rendered natively by the browser: no script, works offline).

// Fences keep their glyph's height (stretchy="false"): a stretched "(" around a whole fraction row
// towers over the line. Only a fence around a fraction stretches (see `paren`).
const FENCES = new Set(['(', ')', '[', ']', '|']);

export const mi = s => `<mi>${s}</mi>`;
export const mn = s => `<mn>${s}</mn>`;
export const mo = s => (FENCES.has(s) ? `<mo stretchy="false">${s}</mo>` : `<mo>${s}</mo>`);
const fence = (s, stretchy) => `<mo stretchy="${stretchy}">${s}</mo>`;
/** Text in a formula; its leading and trailing spaces are kept (MathML drops plain ones: "wherep_d"). */
export const mtext = s => `<mtext>${s.replace(/^ +| +$/g, m => '\u00a0'.repeat(m.length))}</mtext>`;
export const row = (...parts) => `<mrow>${parts.join('')}</mrow>`;
export const sub = (base, index) => `<msub>${base}${index}</msub>`;
export const sup = (base, power) => `<msup>${base}${power}</msup>`;
export const frac = (top, bottom) => `<mfrac>${row(top)}${row(bottom)}</mfrac>`;
export const under = (base, below) => `<munder>${base}${below}</munder>`;
export const over = (base, above) => `<mover>${base}${above}</mover>`;
export const underover = (base, below, above) => `<munderover>${base}${below}${above}</munderover>`;
const tall = parts => parts.some(p => p.includes('<mfrac'));
/** ( ... ): stretches only around a fraction. */
export const paren = (...parts) => `${fence('(', tall(parts))}${parts.join('')}${fence(')', tall(parts))}`;
export const bracket = (...parts) => `${fence('[', tall(parts))}${parts.join('')}${fence(']', tall(parts))}`;

/** A displayed equation; `label` is read by screen readers. Its top-level pieces separated by a comma and
 *  an <mspace> ("a = b, c = d") become separate formulas that wrap onto the next line when the card is
 *  narrow (a MathML formula itself never breaks). */
export const block = (label, ...parts) => {
  const pieces = [[]];
  parts.forEach((part, i) => {
    if (/^<mspace\b/.test(part) && i > 0 && parts[i - 1] === mo(',')) pieces.push([]);
    else pieces[pieces.length - 1].push(part);
  });
  const formulas = pieces.filter(p => p.length).map(p => `<math display="block" aria-hidden="true">${row(...p)}</math>`);
  return `<div class="equation" role="math" aria-label="${label}">${formulas.join('')}</div>`;
};
export const inline = (...parts) => `<math>${row(...parts)}</math>`;

// The note's symbols
export const x = mi('x');
export const ofx = f => `${f}${paren(x)}`;
export const pd = sub(mi('p'), mi('d'));
export const ptheta = sub(mi('p'), mi('θ'));
export const q = mi('q');
export const Nr = sub(mi('N'), '<mi mathvariant="normal">r</mi>'); // N_r: an upright label r, not a variable r
export const G = `${mi('G')}${paren(x, mo(';'), mi('θ'))}`;
export const Z = sub(mi('Z'), mi('θ'));
export const Zhat = mi('Ẑ');
export const grad = sub(mo('∇'), mi('θ'));
export const loss = name => sub(mi('ℒ'), mtext(name));
export const sum = under(mo('∑'), x);
export const log = `${mi('log')}<mspace width="0.17em"></mspace>`; // log, then a thin space (as TeX sets it)
export const sigma = mi('σ');
