// One job: live loss / validation-loss and learning-rate curves from `trainingProgress` (replayed from the
// job's first event when the page opens, then live), throughput, ETA, checkpoints, evaluations, cancel, and the
// actions on a finished adapter (evaluate, merge, export).
import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { ApiError, gql, subscribe } from '../api';
import { useAuth } from '../auth';
import { ErrorBox, Field, Status } from '../components/common';
import { LineChart } from '../components/LineChart';
import { bytes, date, duration, int, num, TERMINAL_EVALUATION, TERMINAL_JOB } from '../format';
import { useQuery } from '../hooks';
import { type ArtifactResult, ArtifactView } from './Models';

interface JobDetail {
  id: string;
  name: string;
  status: string;
  method: string | null;
  datasetId: string;
  baseModelId: string;
  dataset: { name: string } | null;
  baseModel: { name: string } | null;
  progress: { step: number; totalSteps: number; epoch: number; loss: number | null; tokensSeen: number } | null;
  error: { code: string; message: string } | null;
  adapter: { path: string; sizeBytes: number; sha256: string } | null;
  trainableParams: number | null;
  totalParams: number | null;
  checkpoints:
    | { id: string; step: number; epoch: number; loss: number | null; validationLoss: number | null; isBest: boolean }[]
    | null;
  evaluations: { id: string; status: string; metrics: { name: string; value: number }[] }[] | null;
  createdAt: string | null;
  finishedAt: string | null;
}

const DETAIL = `query Job($id: ID!) { fineTuneJob(id: $id) {
  id name status method datasetId baseModelId dataset { name } baseModel { name }
  progress { step totalSteps epoch loss tokensSeen }
  error { code message } adapter { path sizeBytes sha256 } trainableParams totalParams
  checkpoints { id step epoch loss validationLoss isBest }
  evaluations { id status metrics { name value } }
  createdAt finishedAt
} }`;

const PROGRESS = `subscription Progress($id: ID!, $since: Long) { trainingProgress(jobId: $id, sinceSequence: $since) {
  sequence kind step totalSteps loss learningRate tokensPerSecond epoch validationLoss tokensSeen elapsedSeconds
  remainingSeconds status error { code message }
} }`;

interface TrainingEvent {
  sequence: number;
  kind: string;
  step: number | null;
  totalSteps: number | null;
  loss: number | null;
  learningRate: number | null;
  tokensPerSecond: number | null;
  epoch: number | null;
  validationLoss: number | null;
  tokensSeen: number | null;
  elapsedSeconds: number | null;
  remainingSeconds: number | null;
  status: string | null;
  error: { code: string; message: string } | null;
}

const STATUS_OF_KIND: Record<string, string> = { QUEUED: 'QUEUED', STARTED: 'RUNNING', PROGRESS: 'RUNNING' };

export function JobPage({ id }: { id: string }) {
  const { can } = useAuth();
  const job = useQuery<{ fineTuneJob: JobDetail | null }>(DETAIL, { id });
  const [events, setEvents] = useState<TrainingEvent[]>([]);
  const [streamError, setStreamError] = useState<ApiError>();
  const lastSequence = useRef(0);
  const { reload: reloadNow } = job;
  // The replayed history brings many checkpoint events at once: one reload for a burst, not one per event.
  const reloadTimer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  const reload = useCallback(() => {
    clearTimeout(reloadTimer.current);
    reloadTimer.current = setTimeout(reloadNow, 250);
  }, [reloadNow]);
  useEffect(() => () => clearTimeout(reloadTimer.current), []);

  // History and live events in one stream; on a dropped connection it resumes after the last event seen.
  useEffect(() => {
    setEvents([]);
    lastSequence.current = 0;
    let stop: (() => void) | undefined;
    let closed = false;
    const open = () => {
      stop = subscribe<{ trainingProgress: TrainingEvent }>(
        PROGRESS,
        { id, since: lastSequence.current },
        {
          next: ({ trainingProgress: e }) => {
            if (e.sequence <= lastSequence.current) return;
            lastSequence.current = e.sequence;
            setEvents((list) => [...list, e]);
            if (e.kind !== 'PROGRESS') reload();
          },
          error: (err) => {
            setStreamError(err);
            if (!closed && err.code === 'UNAVAILABLE') setTimeout(() => !closed && open(), 2000);
          },
        },
      );
    };
    open();
    return () => {
      closed = true;
      stop?.();
    };
  }, [id, reload]);

  const j = job.data?.fineTuneJob;
  const latest = events.at(-1);
  const status = latest?.status ?? (latest ? STATUS_OF_KIND[latest.kind] : undefined) ?? j?.status;
  const finished = status !== undefined && TERMINAL_JOB.has(status);

  // The evaluator evaluates a finished job on its own: look again until its evaluations have ended.
  const evaluationsPending =
    status === 'SUCCEEDED' &&
    (j?.evaluations === null ||
      j?.evaluations?.length === 0 ||
      j?.evaluations?.some((e) => !TERMINAL_EVALUATION.has(e.status)));
  const [polls, setPolls] = useState(0);
  useEffect(() => {
    if (!evaluationsPending || polls > 60) return;
    const t = setTimeout(() => {
      setPolls((p) => p + 1);
      reload();
    }, 2000);
    return () => clearTimeout(t);
  }, [evaluationsPending, polls, reload]);

  const curves = useMemo(() => {
    const progress = events.filter((e) => e.kind === 'PROGRESS' && e.step !== null);
    return {
      steps: progress.map((e) => e.step as number),
      loss: progress.map((e) => e.loss),
      validation: progress.map((e) => e.validationLoss),
      lr: progress.map((e) => e.learningRate),
      last: progress.at(-1),
    };
  }, [events]);
  const hasValidation = curves.validation.some((v) => v !== null);

  if (job.error) return <ErrorBox error={job.error} />;
  if (!j) return <p className="muted">{job.data ? `No job ${id}.` : 'Loading…'}</p>;

  const step = curves.last?.step ?? j.progress?.step ?? 0;
  const total = curves.last?.totalSteps ?? latest?.totalSteps ?? j.progress?.totalSteps ?? 0;
  const failure = latest?.error ?? j.error;

  const cancel = async () => {
    try {
      await gql(
        'mutation Cancel($id: ID!) { cancelFineTuneJob(id: $id, reason: "cancelled from the dashboard") { id status } }',
        { id },
      );
      reload();
    } catch (err) {
      setStreamError(err instanceof ApiError ? err : new ApiError(String(err), 'INTERNAL'));
    }
  };

  return (
    <section>
      <h2>
        {j.name || j.id} <Status value={status} />
      </h2>
      <p className="muted">
        {j.id} · {j.method ?? '—'} on <a href="#/models">{j.baseModel?.name ?? j.baseModelId}</a> ·{' '}
        <a href={`#/datasets/${j.datasetId}`}>{j.dataset?.name ?? j.datasetId}</a> · created {date(j.createdAt)}
        {j.finishedAt && ` · finished ${date(j.finishedAt)}`}
      </p>
      {failure && <ErrorBox error={`${failure.code}: ${failure.message}`} />}
      <ErrorBox error={streamError} />
      <div className="fields" data-testid="job-stats">
        <Field label="step">
          <span data-testid="job-step">
            {int(step)} / {int(total)}
          </span>
          <progress max={Math.max(1, total)} value={step} />
        </Field>
        <Field label="epoch">{num(curves.last?.epoch ?? j.progress?.epoch, 3)}</Field>
        <Field label="loss">{num(curves.last?.loss ?? j.progress?.loss)}</Field>
        <Field label="tokens/s">
          <span data-testid="tokens-per-second">{num(curves.last?.tokensPerSecond, 4)}</span>
        </Field>
        <Field label="ETA">{finished ? 'done' : duration(curves.last?.remainingSeconds)}</Field>
        <Field label="elapsed">{duration(curves.last?.elapsedSeconds)}</Field>
        <Field label="tokens seen">{int(curves.last?.tokensSeen ?? j.progress?.tokensSeen)}</Field>
        <Field label="trainable / total params">
          {int(j.trainableParams)} / {int(j.totalParams)}
        </Field>
      </div>
      {can('operator') && !finished && (
        <button type="button" className="danger" onClick={cancel}>
          Cancel job
        </button>
      )}
      <div className="charts">
        <LineChart
          title="Loss"
          xLabel="step"
          testId="loss-chart"
          x={curves.steps}
          series={[
            { label: 'train loss', color: '#2563eb', values: curves.loss },
            ...(hasValidation ? [{ label: 'validation loss', color: '#dc2626', values: curves.validation }] : []),
          ]}
        />
        <LineChart
          title="Learning rate"
          xLabel="step"
          testId="lr-chart"
          x={curves.steps}
          series={[{ label: 'learning rate', color: '#059669', values: curves.lr }]}
        />
      </div>
      <h3>Checkpoints</h3>
      {j.checkpoints && j.checkpoints.length > 0 ? (
        <table data-testid="checkpoints">
          <thead>
            <tr>
              <th>Step</th>
              <th>Epoch</th>
              <th>Loss</th>
              <th>Validation loss</th>
              <th>Best</th>
            </tr>
          </thead>
          <tbody>
            {j.checkpoints.map((c) => (
              <tr key={c.id}>
                <td>{c.step}</td>
                <td>{num(c.epoch, 3)}</td>
                <td>{num(c.loss)}</td>
                <td>{num(c.validationLoss)}</td>
                <td>{c.isBest ? '★' : ''}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : (
        <p className="muted">No checkpoints.</p>
      )}
      {j.adapter && (
        <p>
          Adapter: <code>{j.adapter.path}</code> ({bytes(j.adapter.sizeBytes)})
        </p>
      )}
      <h3>Evaluations</h3>
      {j.evaluations && j.evaluations.length > 0 ? (
        <table data-testid="job-evaluations">
          <thead>
            <tr>
              <th>Evaluation</th>
              <th>Status</th>
              <th>Metrics</th>
            </tr>
          </thead>
          <tbody>
            {j.evaluations.map((e) => (
              <tr key={e.id}>
                <td>
                  <a href={`#/evaluations/${e.id}`}>{e.id}</a>
                </td>
                <td>
                  <Status value={e.status} />
                </td>
                <td>{e.metrics.map((m) => `${m.name} ${num(m.value)}`).join(', ') || '—'}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : (
        <p className="muted">{status === 'SUCCEEDED' ? 'Waiting for the evaluator…' : 'None yet.'}</p>
      )}
      {status === 'SUCCEEDED' && can('operator') && <JobActions job={j} onEvaluated={reload} />}
    </section>
  );
}

function JobActions({ job, onEvaluated }: { job: JobDetail; onEvaluated(): void }) {
  const [result, setResult] = useState<ArtifactResult>();
  const [error, setError] = useState<ApiError | string>();
  const [busy, setBusy] = useState('');
  const run = async (what: string, action: () => Promise<ArtifactResult | undefined>) => {
    setBusy(what);
    setError(undefined);
    try {
      const r = await action();
      if (r) setResult(r);
    } catch (err) {
      setError(err instanceof ApiError ? err : String(err));
    } finally {
      setBusy('');
    }
  };
  const fields = 'id name kind baseModelId location { path sizeBytes sha256 }';
  return (
    <div className="panel">
      <h3>Adapter actions</h3>
      <div className="toolbar">
        <button
          type="button"
          disabled={busy !== ''}
          onClick={() =>
            run('evaluate', async () => {
              await gql('mutation Eval($input: EvaluateAdapterInput!) { evaluateAdapter(input: $input) { id } }', {
                input: { jobId: job.id, datasetId: job.datasetId, metrics: ['LOSS', 'PERPLEXITY'] },
              });
              onEvaluated();
              return undefined;
            })
          }
        >
          Evaluate (loss, perplexity)
        </button>
        <button
          type="button"
          disabled={busy !== ''}
          onClick={() =>
            run(
              'merge',
              async () =>
                (
                  await gql<{ mergeAdapter: ArtifactResult }>(
                    `mutation Merge($id: ID!) { mergeAdapter(input: {jobId: $id}) { ${fields} } }`,
                    { id: job.id },
                  )
                ).mergeAdapter,
            )
          }
        >
          Merge into base
        </button>
        <button
          type="button"
          disabled={busy !== ''}
          onClick={() =>
            run(
              'export',
              async () =>
                (
                  await gql<{ exportModel: ArtifactResult }>(
                    `mutation Export($id: ID!) { exportModel(input: {jobId: $id, format: SAFETENSORS}) { ${fields} } }`,
                    { id: job.id },
                  )
                ).exportModel,
            )
          }
        >
          Export (safetensors)
        </button>
        {busy && <span className="muted">{busy}…</span>}
      </div>
      <ErrorBox error={error} />
      {result && <ArtifactView artifact={result} />}
    </div>
  );
}
