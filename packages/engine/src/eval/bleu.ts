// BLEU: corpus BLEU-4 as sacrebleu computes it by default (13a tokenizer, clipped n-gram counts pooled over
// the corpus, closest reference length for the brevity penalty, 'exp' smoothing), in [0, 100].
import { checkPairs } from './errors.js';
import { bleuTokens } from './text.js';

export type BleuSmoothing = 'none' | 'exp';

export interface BleuOptions {
  /** Highest n-gram order. Default 4. */
  readonly maxOrder?: number;
  /** sacrebleu's default is 'exp'; 'none' gives 0 as soon as one order has no match. */
  readonly smoothing?: BleuSmoothing;
}

export interface BleuResult {
  /** In [0, 100]. */
  readonly score: number;
  /** Per order, matched / total, in [0, 100] (after smoothing). */
  readonly precisions: number[];
  readonly brevityPenalty: number;
  readonly hypothesisLength: number;
  readonly referenceLength: number;
  readonly matches: number[];
  readonly totals: number[];
}

function ngramCounts(tokens: readonly string[], n: number): Map<string, number> {
  const counts = new Map<string, number>();
  // \u0001 cannot occur in a token from bleuTokens (whitespace splits), so joined n-grams never collide.
  for (let i = 0; i + n <= tokens.length; i++) {
    const key = tokens.slice(i, i + n).join('\u0001');
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return counts;
}

/** The reference length closest to the hypothesis length; on a tie the shorter (sacrebleu). */
function closestRefLength(hypLen: number, refLens: readonly number[]): number {
  let best = refLens[0]!;
  for (const r of refLens) {
    const d = Math.abs(r - hypLen);
    const bd = Math.abs(best - hypLen);
    if (d < bd || (d === bd && r < best)) best = r;
  }
  return best;
}

/** Corpus BLEU of hypotheses against one or more references each. */
export function corpusBleu(
  hypotheses: readonly string[],
  references: readonly (readonly string[])[],
  opts: BleuOptions = {},
): BleuResult {
  checkPairs('BLEU', hypotheses, references);
  const maxOrder = opts.maxOrder ?? 4;
  const smoothing = opts.smoothing ?? 'exp';
  const matches = new Array<number>(maxOrder).fill(0);
  const totals = new Array<number>(maxOrder).fill(0);
  let hypLen = 0;
  let refLen = 0;
  hypotheses.forEach((h, i) => {
    const hyp = bleuTokens(h);
    const refs = references[i]!.map(bleuTokens);
    hypLen += hyp.length;
    refLen += closestRefLength(
      hyp.length,
      refs.map((r) => r.length),
    );
    for (let n = 1; n <= maxOrder; n++) {
      const hc = ngramCounts(hyp, n);
      // Clip each n-gram's count by its largest count in any single reference.
      const maxRef = new Map<string, number>();
      for (const r of refs) {
        for (const [k, c] of ngramCounts(r, n)) maxRef.set(k, Math.max(maxRef.get(k) ?? 0, c));
      }
      for (const [k, c] of hc) matches[n - 1]! += Math.min(c, maxRef.get(k) ?? 0);
      totals[n - 1]! += Math.max(0, hyp.length - n + 1);
    }
  });

  const precisions = new Array<number>(maxOrder).fill(0);
  let smoothFactor = 1;
  for (let n = 0; n < maxOrder; n++) {
    const total = totals[n]!;
    if (total === 0) break; // hypotheses shorter than n: the order contributes 0 and BLEU is 0
    if (matches[n]! === 0) {
      if (smoothing === 'exp') {
        smoothFactor *= 2;
        precisions[n] = 100 / (smoothFactor * total);
      }
    } else {
      precisions[n] = (100 * matches[n]!) / total;
    }
  }
  const brevityPenalty = hypLen === 0 ? 0 : hypLen < refLen ? Math.exp(1 - refLen / hypLen) : 1;
  const score = precisions.every((p) => p > 0)
    ? brevityPenalty * Math.exp(precisions.reduce((s, p) => s + Math.log(p), 0) / maxOrder)
    : 0;
  return { score, precisions, brevityPenalty, hypothesisLength: hypLen, referenceLength: refLen, matches, totals };
}
