// One dataset: counts, the validation report, token statistics with the length histogram, and the preview of
// rendered examples with the tokens that carry loss highlighted.
import { useState } from 'react';
import { ErrorBox, Field, Status } from '../components/common';
import { type Bucket, Histogram } from '../components/Histogram';
import { int, num } from '../format';
import { useQuery } from '../hooks';

interface SplitStats {
  split: string;
  exampleCount: number;
  totalTokens: number;
  lossTokens: number;
  lossTokenFraction: number;
  minLength: number;
  meanLength: number;
  p50Length: number;
  p95Length: number;
  maxLength: number;
  lengthHistogram: Bucket[];
  labelCounts: { label: string; count: number }[];
}

interface DatasetDetail {
  id: string;
  name: string;
  status: string;
  format: string | null;
  createdAt: string | null;
  rows: Record<'total' | 'kept' | 'train' | 'validation' | 'duplicates' | 'truncated' | 'dropped', number> | null;
  report: {
    errorCount: number;
    warningCount: number;
    findingsTruncated: boolean;
    findings: { severity: string; kind: string; line: number | null; field: string | null; message: string }[];
  } | null;
  statistics: { tokenizer: string | null; splits: SplitStats[] } | null;
  error: { code: string; message: string } | null;
}

const DETAIL = `query Dataset($id: ID!) { dataset(id: $id) {
  id name status format createdAt
  rows { total kept train validation duplicates truncated dropped }
  report { errorCount warningCount findingsTruncated findings { severity kind line field message } }
  statistics { tokenizer splits { split exampleCount totalTokens lossTokens lossTokenFraction minLength meanLength
    p50Length p95Length maxLength lengthHistogram { lowerBound upperBound count } labelCounts { label count } } }
  error { code message }
} }`;

const PREVIEW = `query Preview($id: ID!, $split: DatasetSplit, $offset: Int) {
  datasetPreview(datasetId: $id, split: $split, first: 3, offset: $offset) {
    splitSize examples { index sourceLine lossTokenCount truncated tokens { id text loss } }
  }
}`;

interface Preview {
  splitSize: number;
  examples: {
    index: number;
    sourceLine: number;
    lossTokenCount: number;
    truncated: boolean;
    tokens: { id: number; text: string; loss: boolean }[];
  }[];
}

export function DatasetPage({ id }: { id: string }) {
  const { data, error } = useQuery<{ dataset: DatasetDetail | null }>(DETAIL, { id });
  const d = data?.dataset;
  if (error) return <ErrorBox error={error} />;
  if (!d) return <p className="muted">{data ? `No dataset ${id}.` : 'Loading…'}</p>;
  return (
    <section>
      <h2>
        {d.name} <Status value={d.status} />
      </h2>
      <p className="muted">
        {d.id} · {d.format ?? 'format not detected'}
      </p>
      {d.error && <ErrorBox error={`${d.error.code}: ${d.error.message}`} />}
      {d.rows && (
        <div className="fields">
          {Object.entries(d.rows).map(([k, v]) => (
            <Field key={k} label={k}>
              {int(v)}
            </Field>
          ))}
        </div>
      )}
      <h3>Validation report</h3>
      {d.report ? (
        <>
          <p>
            {d.report.errorCount} errors, {d.report.warningCount} warnings
            {d.report.findingsTruncated && ' (first findings shown)'}
          </p>
          {d.report.findings.length > 0 && (
            <table data-testid="findings">
              <thead>
                <tr>
                  <th>Severity</th>
                  <th>Kind</th>
                  <th>Line</th>
                  <th>Field</th>
                  <th>Message</th>
                </tr>
              </thead>
              <tbody>
                {d.report.findings.map((f, i) => (
                  // biome-ignore lint/suspicious/noArrayIndexKey: findings have no id and never reorder
                  <tr key={i} className={`finding-${f.severity.toLowerCase()}`}>
                    <td>{f.severity}</td>
                    <td>{f.kind}</td>
                    <td>{f.line ?? '—'}</td>
                    <td>{f.field ?? '—'}</td>
                    <td>{f.message}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </>
      ) : (
        <p className="muted">No report.</p>
      )}
      <h3>Statistics</h3>
      {d.statistics && d.statistics.splits.length > 0 ? (
        <div className="split-stats">
          <p className="muted">Tokenizer: {d.statistics.tokenizer ?? 'none (counts only)'}</p>
          {d.statistics.splits.map((s) => (
            <div key={s.split} className="panel">
              <h4>{s.split}</h4>
              <div className="fields">
                <Field label="examples">{int(s.exampleCount)}</Field>
                <Field label="tokens">{int(s.totalTokens)}</Field>
                <Field label="loss tokens">
                  {int(s.lossTokens)} ({num(100 * s.lossTokenFraction, 3)} %)
                </Field>
                <Field label="length min / mean / p50 / p95 / max">
                  {int(s.minLength)} / {num(s.meanLength, 3)} / {int(s.p50Length)} / {int(s.p95Length)} /{' '}
                  {int(s.maxLength)}
                </Field>
              </div>
              <Histogram buckets={s.lengthHistogram} testId={`histogram-${s.split.toLowerCase()}`} />
              {s.labelCounts.length > 0 && (
                <p>
                  Labels:{' '}
                  {s.labelCounts.map((l) => (
                    <span key={l.label} className="chip">
                      {l.label}: {int(l.count)}
                    </span>
                  ))}
                </p>
              )}
            </div>
          ))}
        </div>
      ) : (
        <p className="muted">No statistics.</p>
      )}
      {d.status !== 'VALIDATING' && <PreviewPanel id={d.id} />}
    </section>
  );
}

function PreviewPanel({ id }: { id: string }) {
  const [split, setSplit] = useState('TRAIN');
  const [offset, setOffset] = useState(0);
  const { data, error, loading } = useQuery<{ datasetPreview: Preview | null }>(PREVIEW, { id, split, offset });
  const p = data?.datasetPreview;
  return (
    <div className="panel" data-testid="preview">
      <h3>Preview</h3>
      <p className="muted">
        The examples as the trainer sees them; <mark className="loss">highlighted tokens</mark> carry the loss.
      </p>
      <div className="toolbar">
        <select
          value={split}
          onChange={(e) => {
            setSplit(e.target.value);
            setOffset(0);
          }}
          aria-label="split"
        >
          <option>TRAIN</option>
          <option>VALIDATION</option>
        </select>
        <button type="button" disabled={offset === 0} onClick={() => setOffset(Math.max(0, offset - 3))}>
          ◀
        </button>
        <span>
          {p ? `${offset + 1}–${Math.min(offset + 3, p.splitSize)} of ${p.splitSize}` : loading ? 'Loading…' : ''}
        </span>
        <button type="button" disabled={!p || offset + 3 >= p.splitSize} onClick={() => setOffset(offset + 3)}>
          ▶
        </button>
      </div>
      <ErrorBox error={error} />
      {p?.examples.map((ex) => (
        <div key={ex.index} className="example">
          <p className="muted">
            #{ex.index} · source line {ex.sourceLine} · {ex.tokens.length} tokens, {ex.lossTokenCount} with loss
            {ex.truncated && ' · truncated'}
          </p>
          <pre className="tokens">
            {ex.tokens.map((t, i) =>
              t.loss ? (
                // biome-ignore lint/suspicious/noArrayIndexKey: tokens are positional
                <mark key={i} className="loss" title={`id ${t.id}`}>
                  {t.text}
                </mark>
              ) : (
                // biome-ignore lint/suspicious/noArrayIndexKey: tokens are positional
                <span key={i} title={`id ${t.id}`}>
                  {t.text}
                </span>
              ),
            )}
          </pre>
        </div>
      ))}
    </div>
  );
}
