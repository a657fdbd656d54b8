// Token-length statistics of a split: min / mean / p50 / p95 / max and a histogram, the numbers people check
// before choosing a maximum length. Lengths are kept (4 bytes each), so percentiles are exact.

export interface HistogramBucket {
  /** Inclusive lower bound, in tokens. */
  start: number;
  /** Exclusive upper bound, in tokens. */
  end: number;
  count: number;
}

export interface LengthStatistics {
  exampleCount: number;
  totalTokens: number;
  lossTokens: number;
  /** lossTokens / totalTokens (0 when there are no tokens). */
  lossTokenFraction: number;
  minLength: number;
  meanLength: number;
  p50Length: number;
  p95Length: number;
  /** Longest example before truncation. */
  maxLength: number;
  histogram: HistogramBucket[];
}

/** Accumulates per-example lengths; `build` sorts once. */
export class LengthStatsBuilder {
  private lengths: number[] = [];
  private total = 0;
  private loss = 0;
  private maxBefore = 0;

  /** `length` after truncation, `lossTokens` positions carrying loss, `lengthBefore` before truncation. */
  add(length: number, lossTokens: number, lengthBefore = length): void {
    this.lengths.push(length);
    this.total += length;
    this.loss += lossTokens;
    if (lengthBefore > this.maxBefore) this.maxBefore = lengthBefore;
  }

  build(buckets = 10): LengthStatistics {
    const sorted = Float64Array.from(this.lengths).sort();
    const n = sorted.length;
    const at = (q: number): number => (n === 0 ? 0 : (sorted[Math.min(n - 1, Math.ceil(q * n) - 1)] ?? 0));
    const min = n === 0 ? 0 : (sorted[0] ?? 0);
    const max = n === 0 ? 0 : (sorted[n - 1] ?? 0);
    return {
      exampleCount: n,
      totalTokens: this.total,
      lossTokens: this.loss,
      lossTokenFraction: this.total === 0 ? 0 : this.loss / this.total,
      minLength: min,
      meanLength: n === 0 ? 0 : this.total / n,
      p50Length: at(0.5),
      p95Length: at(0.95),
      maxLength: Math.max(max, this.maxBefore),
      histogram: histogram(sorted, min, max, buckets),
    };
  }
}

/** Equal-width buckets over [min, max]; the last bucket includes max. */
function histogram(sorted: Float64Array, min: number, max: number, buckets: number): HistogramBucket[] {
  if (sorted.length === 0) return [];
  const width = Math.max(1, Math.ceil((max - min + 1) / buckets));
  const out: HistogramBucket[] = [];
  for (let start = min; start <= max; start += width) out.push({ start, end: start + width, count: 0 });
  for (const v of sorted) {
    const b = out[Math.min(out.length - 1, Math.floor((v - min) / width))];
    if (b !== undefined) b.count++;
  }
  return out;
}
