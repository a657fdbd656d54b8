// A token-length histogram as plain bars: a handful of buckets needs no chart library.
import { int } from '../format';

export interface Bucket {
  lowerBound: number;
  upperBound: number;
  count: number;
}

export function Histogram({ buckets, testId }: { buckets: Bucket[]; testId: string }) {
  const max = Math.max(1, ...buckets.map((b) => b.count));
  if (buckets.length === 0) return <p className="muted">No token lengths (the import named no tokenizer).</p>;
  return (
    <div className="histogram" data-testid={testId}>
      {buckets.map((b) => (
        <div className="bar-row" key={b.lowerBound} title={`${b.lowerBound}–${b.upperBound - 1} tokens: ${b.count}`}>
          <span className="bar-label">
            {b.lowerBound}–{b.upperBound - 1}
          </span>
          <span className="bar" style={{ width: `${(100 * b.count) / max}%` }} />
          <span className="bar-count">{int(b.count)}</span>
        </div>
      ))}
    </div>
  );
}
