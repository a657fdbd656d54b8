// Evaluations: the leaderboard of one dataset and metric, the evaluation list, and one evaluation's page with
// the base model's baseline beside it and sample outputs side by side (compareModels).
import { useEffect, useState } from 'react';
import { ApiError, gql } from '../api';
import { useAuth } from '../auth';
import { ErrorBox, Status } from '../components/common';
import { date, num } from '../format';
import { useQuery } from '../hooks';

const METRICS = ['LOSS', 'PERPLEXITY', 'ACCURACY', 'F1', 'EXACT_MATCH', 'TOKEN_F1', 'ROUGE_L', 'BLEU'];

interface EvaluationRow {
  id: string;
  status: string;
  datasetId: string;
  jobId: string | null;
  job: { name: string; baseModelId: string } | null;
  metrics: { name: string; value: number }[];
}

export function EvaluationsPage() {
  const datasets = useQuery<{ datasets: { edges: { node: { id: string; name: string } }[] } | null }>(
    'query EvalDatasets { datasets(first: 100) { edges { node { id name } } } }',
  );
  const list = datasets.data?.datasets?.edges.map((e) => e.node) ?? [];
  const [datasetId, setDatasetId] = useState('');
  const [metric, setMetric] = useState('LOSS');
  useEffect(() => {
    if (datasetId === '' && list[0]) setDatasetId(list[0].id);
  }, [list, datasetId]);
  return (
    <section>
      <h2>Evaluations</h2>
      <ErrorBox error={datasets.error} />
      <div className="toolbar">
        <label>
          Dataset{' '}
          <select value={datasetId} onChange={(e) => setDatasetId(e.target.value)}>
            {list.map((d) => (
              <option key={d.id} value={d.id}>
                {d.name} ({d.id})
              </option>
            ))}
          </select>
        </label>
        <label>
          Metric{' '}
          <select value={metric} onChange={(e) => setMetric(e.target.value)}>
            {METRICS.map((m) => (
              <option key={m}>{m}</option>
            ))}
          </select>
        </label>
      </div>
      {datasetId && <Leaderboard datasetId={datasetId} metric={metric} />}
      {datasetId && <EvaluationList datasetId={datasetId} />}
    </section>
  );
}

interface LeaderboardData {
  leaderboard: {
    higherIsBetter: boolean;
    entries: {
      rank: number;
      evaluationId: string;
      jobId: string | null;
      baseModelId: string;
      name: string;
      isBaseline: boolean;
      method?: string | null;
      value: number;
      deltaVsBaseline?: number | null;
      evaluatedAt?: string | null;
    }[];
  } | null;
  // Names for the ids in the entries.
  baseModels?: { edges: { node: { id: string; name: string } }[] } | null;
  fineTuneJobs?: { edges: { node: { id: string; name: string } }[] } | null;
}

function Leaderboard({ datasetId, metric }: { datasetId: string; metric: string }) {
  const { data, error } = useQuery<LeaderboardData>(
    `query Board($d: ID!, $m: MetricName!) {
      leaderboard(datasetId: $d, metric: $m, first: 50) {
        higherIsBetter entries { rank evaluationId jobId baseModelId name isBaseline method value deltaVsBaseline evaluatedAt } }
      baseModels(first: 100) { edges { node { id name } } }
      fineTuneJobs(first: 100) { edges { node { id name } } }
    }`,
    { d: datasetId, m: metric },
  );
  const board = data?.leaderboard;
  const names = new Map<string, string>();
  for (const { node } of data?.baseModels?.edges ?? []) names.set(node.id, node.name);
  for (const { node } of data?.fineTuneJobs?.edges ?? []) if (node.name) names.set(node.id, node.name);
  return (
    <div className="panel">
      <h3>
        Leaderboard: {metric}{' '}
        {board && <span className="muted">({board.higherIsBetter ? 'higher' : 'lower'} is better)</span>}
      </h3>
      <ErrorBox error={error} />
      <table data-testid="leaderboard">
        <thead>
          <tr>
            <th>Rank</th>
            <th>Model</th>
            <th>Method</th>
            <th>{metric}</th>
            <th>vs base model</th>
            <th>Evaluated</th>
            <th>Evaluation</th>
          </tr>
        </thead>
        <tbody>
          {board?.entries.map((e) => {
            const better =
              e.deltaVsBaseline != null && (board.higherIsBetter ? e.deltaVsBaseline > 0 : e.deltaVsBaseline < 0);
            return (
              <tr key={e.evaluationId} className={e.isBaseline ? 'baseline' : ''}>
                <td>{e.rank}</td>
                <td>
                  {e.jobId ? (
                    <a href={`#/jobs/${e.jobId}`}>{names.get(e.jobId) ?? e.name}</a>
                  ) : (
                    (names.get(e.baseModelId) ?? e.name)
                  )}
                  {e.isBaseline && <span className="chip">base model</span>}
                  {e.jobId && <span className="muted"> on {names.get(e.baseModelId) ?? e.baseModelId}</span>}
                </td>
                <td>{e.method ?? '—'}</td>
                <td>{num(e.value)}</td>
                <td className={e.deltaVsBaseline == null || e.isBaseline ? '' : better ? 'better' : 'worse'}>
                  {e.isBaseline || e.deltaVsBaseline == null
                    ? '—'
                    : `${e.deltaVsBaseline > 0 ? '+' : ''}${num(e.deltaVsBaseline)}`}
                </td>
                <td>{date(e.evaluatedAt)}</td>
                <td>
                  <a href={`#/evaluations/${e.evaluationId}`}>{e.evaluationId}</a>
                </td>
              </tr>
            );
          })}
          {board && board.entries.length === 0 && (
            <tr>
              <td colSpan={7} className="muted">
                No evaluations with {metric} on this dataset.
              </td>
            </tr>
          )}
        </tbody>
      </table>
    </div>
  );
}

function EvaluationList({ datasetId }: { datasetId: string }) {
  const { data, error } = useQuery<{ evaluations: { edges: { node: EvaluationRow }[] } | null }>(
    `query Evals($d: ID!) { evaluations(datasetId: $d, first: 100) { edges { node {
      id status datasetId jobId job { name baseModelId } metrics { name value } } } } }`,
    { d: datasetId },
  );
  const rows = data?.evaluations?.edges.map((e) => e.node) ?? [];
  return (
    <div className="panel">
      <h3>All evaluations of this dataset</h3>
      <ErrorBox error={error} />
      <table data-testid="evaluations-table">
        <thead>
          <tr>
            <th>Evaluation</th>
            <th>Status</th>
            <th>Model</th>
            <th>Metrics</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((e) => (
            <tr key={e.id}>
              <td>
                <a href={`#/evaluations/${e.id}`}>{e.id}</a>
              </td>
              <td>
                <Status value={e.status} />
              </td>
              <td>{e.jobId ? <a href={`#/jobs/${e.jobId}`}>{e.job?.name || e.jobId}</a> : 'base model'}</td>
              <td>{e.metrics.map((m) => `${m.name} ${num(m.value)}`).join(', ') || '—'}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

interface EvaluationDetail extends EvaluationRow {
  dataset: { name: string } | null;
  error: { code: string; message: string } | null;
}

export function EvaluationPage({ id }: { id: string }) {
  const { can } = useAuth();
  const { data, error, reload } = useQuery<{ evaluation: EvaluationDetail | null }>(
    `query Evaluation($id: ID!) { evaluation(id: $id) {
      id status datasetId jobId job { name baseModelId } dataset { name } metrics { name value } error { code message } } }`,
    { id },
  );
  const e = data?.evaluation;
  const running = e !== undefined && e !== null && (e.status === 'QUEUED' || e.status === 'RUNNING');
  useEffect(() => {
    if (!running) return;
    const t = setTimeout(reload, 1500);
    return () => clearTimeout(t);
  });
  if (error) return <ErrorBox error={error} />;
  if (!e) return <p className="muted">{data ? `No evaluation ${id}.` : 'Loading…'}</p>;
  return (
    <section data-testid="evaluation">
      <h2>
        Evaluation {e.id} <Status value={e.status} />
      </h2>
      <p className="muted">
        {e.jobId ? (
          <>
            adapter of <a href={`#/jobs/${e.jobId}`}>{e.job?.name || e.jobId}</a>
          </>
        ) : (
          'base model'
        )}{' '}
        on <a href={`#/datasets/${e.datasetId}`}>{e.dataset?.name ?? e.datasetId}</a>
      </p>
      {e.error && <ErrorBox error={`${e.error.code}: ${e.error.message}`} />}
      <BaseVsAdapter evaluation={e} />
      {e.jobId && e.job && can('operator') && (
        <Samples datasetId={e.datasetId} jobId={e.jobId} baseModelId={e.job.baseModelId} />
      )}
    </section>
  );
}

/** The evaluation's metrics beside the base model's (the leaderboard's baseline for the same dataset). */
function BaseVsAdapter({ evaluation }: { evaluation: EvaluationDetail }) {
  const [baseline, setBaseline] = useState<Record<string, { value: number; higherIsBetter: boolean }>>({});
  const names = evaluation.metrics.map((m) => m.name).join(',');
  // biome-ignore lint/correctness/useExhaustiveDependencies: `names` stands for the metric list
  useEffect(() => {
    if (!evaluation.jobId) return;
    let live = true;
    Promise.all(
      evaluation.metrics.map(async (m) => {
        const r = await gql<LeaderboardData>(
          `query Base($d: ID!, $m: MetricName!) { leaderboard(datasetId: $d, metric: $m, first: 100) {
            higherIsBetter entries { evaluationId jobId isBaseline value name rank } } }`,
          { d: evaluation.datasetId, m: m.name },
        );
        const entry = r.leaderboard?.entries.find((x) => x.isBaseline);
        return [
          m.name,
          entry ? { value: entry.value, higherIsBetter: r.leaderboard?.higherIsBetter ?? false } : undefined,
        ] as const;
      }),
    )
      .then((pairs) => {
        if (!live) return;
        const out: Record<string, { value: number; higherIsBetter: boolean }> = {};
        for (const [name, v] of pairs) if (v) out[name] = v;
        setBaseline(out);
      })
      .catch(() => {});
    return () => {
      live = false;
    };
  }, [evaluation.id, evaluation.datasetId, names]);
  return (
    <table data-testid="metrics">
      <thead>
        <tr>
          <th>Metric</th>
          <th>{evaluation.jobId ? 'Adapter' : 'Value'}</th>
          {evaluation.jobId && <th>Base model</th>}
          {evaluation.jobId && <th>Change</th>}
        </tr>
      </thead>
      <tbody>
        {evaluation.metrics.map((m) => {
          const b = baseline[m.name];
          const better = b && (b.higherIsBetter ? m.value > b.value : m.value < b.value);
          return (
            <tr key={m.name}>
              <td>{m.name}</td>
              <td data-metric={m.name}>{num(m.value)}</td>
              {evaluation.jobId && <td>{b ? num(b.value) : '—'}</td>}
              {evaluation.jobId && (
                <td className={b ? (better ? 'better' : 'worse') : ''}>{b ? num(m.value - b.value) : '—'}</td>
              )}
            </tr>
          );
        })}
        {evaluation.metrics.length === 0 && (
          <tr>
            <td colSpan={4} className="muted">
              No metrics yet.
            </td>
          </tr>
        )}
      </tbody>
    </table>
  );
}

interface Comparison {
  compareModels: {
    samples: { index: number; prompt: string; reference: string; outputs: string[]; losses: number[] }[];
  };
}

function Samples({ datasetId, jobId, baseModelId }: { datasetId: string; jobId: string; baseModelId: string }) {
  const [result, setResult] = useState<Comparison['compareModels']>();
  const [error, setError] = useState<ApiError | string>();
  const [busy, setBusy] = useState(false);
  const run = async () => {
    setBusy(true);
    setError(undefined);
    try {
      const r = await gql<Comparison>(
        `mutation Compare($input: CompareModelsInput!) { compareModels(input: $input) {
          samples { index prompt reference outputs losses } } }`,
        { input: { models: [{ baseModelId }, { jobId }], datasetId, first: 3, maxNewTokens: 24 } },
      );
      setResult(r.compareModels);
    } catch (err) {
      setError(err instanceof ApiError ? err : String(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <div className="panel">
      <h3>Sample outputs: base model vs adapter</h3>
      <button type="button" onClick={run} disabled={busy}>
        {busy ? 'Generating…' : 'Generate samples'}
      </button>
      <ErrorBox error={error} />
      {result && (
        <table data-testid="samples">
          <thead>
            <tr>
              <th>#</th>
              <th>Prompt</th>
              <th>Reference</th>
              <th>Base model (loss)</th>
              <th>Adapter (loss)</th>
            </tr>
          </thead>
          <tbody>
            {result.samples.map((s) => (
              <tr key={s.index}>
                <td>{s.index}</td>
                <td>
                  <pre>{s.prompt}</pre>
                </td>
                <td>
                  <pre>{s.reference}</pre>
                </td>
                {s.outputs.map((o, i) => (
                  // biome-ignore lint/suspicious/noArrayIndexKey: columns follow the request's model order
                  <td key={i}>
                    <pre>{o}</pre>
                    <small className="muted">loss {num(s.losses[i])}</small>
                  </td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}
