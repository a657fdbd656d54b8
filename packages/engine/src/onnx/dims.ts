// Symbolic dimension arithmetic for shape inference. A symbolic dim is a name ('batch'); products and sums of
// dims are written as readable expressions ('batch*seq', 'past+seq', 'seq-1') so that a reshape from
// [batch, seq, D] to [batch*seq, D] and back keeps its shape known. Expressions are only names to ONNX
// (dim_param), so an expression we cannot simplify is still safe: it just compares unequal to other names.

import type { Dim } from './ir.js';

/** A product: integer coefficient times a multiset of symbolic atoms (kept sorted). */
interface Monomial {
  coef: number;
  atoms: string[];
}

function splitTopLevel(s: string, sep: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === '(') depth++;
    else if (c === ')') depth--;
    else if (c === sep && depth === 0) {
      parts.push(s.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(s.slice(start));
  return parts;
}

function toMonomial(d: Dim): Monomial {
  if (typeof d === 'number') return { coef: d, atoms: [] };
  const m: Monomial = { coef: 1, atoms: [] };
  for (const f of splitTopLevel(d, '*')) {
    if (/^\d+$/.test(f)) m.coef *= Number(f);
    else m.atoms.push(f);
  }
  m.atoms.sort();
  return m;
}

function wrapAtom(a: string): string {
  return /[+-]/.test(a) && !(a.startsWith('(') && a.endsWith(')')) ? `(${a})` : a;
}

function fromMonomial(m: Monomial): Dim {
  if (m.atoms.length === 0) return m.coef;
  const atoms = m.atoms.map(wrapAtom);
  return m.coef === 1 ? atoms.join('*') : [String(m.coef), ...atoms].join('*');
}

/** Product of dims, e.g. ['batch', 'seq', 4] -> '4*batch*seq'. */
export function dimProduct(dims: readonly Dim[]): Dim {
  const m: Monomial = { coef: 1, atoms: [] };
  for (const d of dims) {
    const x = toMonomial(d);
    m.coef *= x.coef;
    m.atoms.push(...x.atoms);
  }
  m.atoms.sort();
  return fromMonomial(m);
}

/** a / b when it is exact (integer coefficient, b's atoms contained in a's); undefined otherwise. */
export function dimDivide(a: Dim, b: Dim): Dim | undefined {
  const x = toMonomial(a);
  const y = toMonomial(b);
  if (y.coef === 0 || x.coef % y.coef !== 0) return undefined;
  const atoms = [...x.atoms];
  for (const at of y.atoms) {
    const i = atoms.indexOf(at);
    if (i < 0) return undefined;
    atoms.splice(i, 1);
  }
  return fromMonomial({ coef: x.coef / y.coef, atoms });
}

/** Sum of dims: numeric when all are numbers, else 'past+seq' (numbers folded together, last). */
export function dimSum(dims: readonly Dim[]): Dim {
  let n = 0;
  const syms: string[] = [];
  for (const d of dims) {
    if (typeof d === 'number') n += d;
    else syms.push(d);
  }
  if (syms.length === 0) return n;
  if (n !== 0) syms.push(String(n));
  return syms.length === 1 ? (syms[0] as string) : syms.join('+');
}

/** d - k for a non-negative integer k ('seq-1'); numeric when d is. */
export function dimMinus(d: Dim, k: number): Dim {
  if (k === 0) return d;
  if (typeof d === 'number') return d - k;
  return `${wrapAtom(d)}-${k}`;
}

export function sameDim(a: Dim, b: Dim): boolean {
  if (typeof a === 'number' || typeof b === 'number') return a === b;
  return a === b || fromMonomial(toMonomial(a)) === fromMonomial(toMonomial(b));
}

/** The size of a dim once its symbols are bound (e.g. {batch: 2, seq: 7}); undefined if a symbol is unbound. */
export function evalDim(d: Dim, bindings: Readonly<Record<string, number>>): number | undefined {
  if (typeof d === 'number') return d;
  const s = d.trim();
  if (wrapsWhole(s)) return evalDim(s.slice(1, -1), bindings);
  // Lowest precedence first: '+' and '-' at depth 0 (left to right), then '*'.
  let depth = 0;
  for (let i = s.length - 1; i > 0; i--) {
    const c = s[i];
    if (c === ')') depth++;
    else if (c === '(') depth--;
    else if (depth === 0 && (c === '+' || c === '-')) {
      const l = evalDim(s.slice(0, i), bindings);
      const r = evalDim(s.slice(i + 1), bindings);
      if (l === undefined || r === undefined) return undefined;
      return c === '+' ? l + r : l - r;
    }
  }
  const parts = splitTopLevel(s, '*');
  if (parts.length > 1) {
    let p = 1;
    for (const f of parts) {
      const v = evalDim(f, bindings);
      if (v === undefined) return undefined;
      p *= v;
    }
    return p;
  }
  if (/^\d+$/.test(s)) return Number(s);
  return bindings[s];
}

/** True for '(a+b)' but not for '(a)*(b)'. */
function wrapsWhole(s: string): boolean {
  if (!s.startsWith('(') || !s.endsWith(')')) return false;
  let depth = 0;
  for (let i = 0; i < s.length - 1; i++) {
    if (s[i] === '(') depth++;
    else if (s[i] === ')') depth--;
    if (depth === 0) return false;
  }
  return true;
}
