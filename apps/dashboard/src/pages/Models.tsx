// Base models and derived artefacts: merge an adapter into its base, combine adapters (PEFT
// add_weighted_adapter rules), export a model; registering a base model is for admins.
import { type FormEvent, useState } from 'react';
import { ApiError, gql } from '../api';
import { useAuth } from '../auth';
import { ErrorBox, Field } from '../components/common';
import { bytes, int } from '../format';
import { useQuery } from '../hooks';

export interface ArtifactResult {
  id: string;
  name: string;
  kind: string;
  baseModelId: string;
  location: { path: string; sizeBytes: number; sha256: string } | null;
}

export function ArtifactView({ artifact }: { artifact: ArtifactResult }) {
  return (
    <div className="fields" data-testid="artifact">
      <Field label="artefact">{artifact.id}</Field>
      <Field label="kind">{artifact.kind}</Field>
      <Field label="name">{artifact.name}</Field>
      <Field label="path">
        <code>{artifact.location?.path ?? '—'}</code>
      </Field>
      <Field label="size">{bytes(artifact.location?.sizeBytes)}</Field>
      <Field label="sha256">
        <code>{artifact.location?.sha256 || '—'}</code>
      </Field>
    </div>
  );
}

const LOOKUPS = `query ModelsPage {
  baseModels(first: 100) { edges { node { id name path architecture parameterCount contextLength defaultTargetModules } } }
  fineTuneJobs(first: 100, status: SUCCEEDED) { edges { node { id name method baseModelId } } }
}`;

const ARTIFACT = 'id name kind baseModelId location { path sizeBytes sha256 }';

interface Lookups {
  baseModels: {
    edges: {
      node: {
        id: string;
        name: string;
        path: string;
        architecture: string;
        parameterCount: number | null;
        contextLength: number | null;
        defaultTargetModules: string[];
      };
    }[];
  } | null;
  fineTuneJobs: { edges: { node: { id: string; name: string; method: string | null; baseModelId: string } }[] } | null;
}

export function ModelsPage() {
  const { can } = useAuth();
  const { data, error, reload } = useQuery<Lookups>(LOOKUPS);
  const models = data?.baseModels?.edges.map((e) => e.node) ?? [];
  const jobs = data?.fineTuneJobs?.edges.map((e) => e.node) ?? [];
  return (
    <section>
      <h2>Models and artefacts</h2>
      <ErrorBox error={error} />
      <table data-testid="base-models">
        <thead>
          <tr>
            <th>Base model</th>
            <th>Architecture</th>
            <th>Parameters</th>
            <th>Context</th>
            <th>Default LoRA targets</th>
            <th>Path</th>
          </tr>
        </thead>
        <tbody>
          {models.map((m) => (
            <tr key={m.id}>
              <td>
                {m.name} <span className="muted">{m.id}</span>
              </td>
              <td>{m.architecture}</td>
              <td>{int(m.parameterCount)}</td>
              <td>{int(m.contextLength)}</td>
              <td>{m.defaultTargetModules.join(', ')}</td>
              <td>
                <code>{m.path}</code>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {can('admin') && <RegisterForm onDone={reload} />}
      {can('operator') && (
        <>
          <MergeForm jobs={jobs} />
          <CombineForm jobs={jobs} />
          <ExportForm jobs={jobs} models={models} />
        </>
      )}
    </section>
  );
}

type Jobs = NonNullable<Lookups['fineTuneJobs']>['edges'][number]['node'][];

function useAction() {
  const [result, setResult] = useState<ArtifactResult>();
  const [error, setError] = useState<ApiError | string>();
  const [busy, setBusy] = useState(false);
  const run = async (action: () => Promise<ArtifactResult>) => {
    setBusy(true);
    setError(undefined);
    setResult(undefined);
    try {
      setResult(await action());
    } catch (err) {
      setError(err instanceof ApiError ? err : String(err));
    } finally {
      setBusy(false);
    }
  };
  return { result, error, busy, run, setError };
}

function JobSelect({
  jobs,
  value,
  onChange,
  id,
}: {
  jobs: Jobs;
  value: string;
  onChange(v: string): void;
  id: string;
}) {
  return (
    <select id={id} value={value} onChange={(e) => onChange(e.target.value)}>
      <option value="">choose a succeeded job</option>
      {jobs.map((j) => (
        <option key={j.id} value={j.id}>
          {j.name || j.id} ({j.method})
        </option>
      ))}
    </select>
  );
}

function RegisterForm({ onDone }: { onDone(): void }) {
  const [name, setName] = useState('');
  const [path, setPath] = useState('');
  const [error, setError] = useState<ApiError | string>();
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setError(undefined);
    try {
      await gql('mutation Register($input: RegisterBaseModelInput!) { registerBaseModel(input: $input) { id } }', {
        input: { name, path },
      });
      setName('');
      setPath('');
      onDone();
    } catch (err) {
      setError(err instanceof ApiError ? err : String(err));
    }
  };
  return (
    <form className="panel" onSubmit={submit}>
      <h3>Register a base model</h3>
      <div className="form-grid">
        <div className="form-row">
          <label htmlFor="reg-name">Name</label>
          <input id="reg-name" value={name} onChange={(e) => setName(e.target.value)} />
        </div>
        <div className="form-row">
          <label htmlFor="reg-path">Hugging Face model directory on the trainer's machine</label>
          <input id="reg-path" value={path} onChange={(e) => setPath(e.target.value)} />
        </div>
      </div>
      <ErrorBox error={error} />
      <button type="submit" disabled={!name || !path}>
        Register
      </button>
    </form>
  );
}

function MergeForm({ jobs }: { jobs: Jobs }) {
  const [jobId, setJobId] = useState('');
  const [dtype, setDtype] = useState('F32');
  const a = useAction();
  return (
    <form
      className="panel"
      onSubmit={(e) => {
        e.preventDefault();
        a.run(
          async () =>
            (
              await gql<{ mergeAdapter: ArtifactResult }>(
                `mutation Merge($input: MergeAdapterInput!) { mergeAdapter(input: $input) { ${ARTIFACT} } }`,
                { input: { jobId, dtype } },
              )
            ).mergeAdapter,
        );
      }}
    >
      <h3>Merge an adapter into its base</h3>
      <div className="form-grid">
        <div className="form-row">
          <label htmlFor="merge-job">Job</label>
          <JobSelect id="merge-job" jobs={jobs} value={jobId} onChange={setJobId} />
        </div>
        <div className="form-row">
          <label htmlFor="merge-dtype">dtype</label>
          <select id="merge-dtype" value={dtype} onChange={(e) => setDtype(e.target.value)}>
            <option>F32</option>
            <option>F16</option>
            <option>BF16</option>
          </select>
        </div>
      </div>
      <ErrorBox error={a.error} />
      <button type="submit" disabled={!jobId || a.busy}>
        {a.busy ? 'Merging…' : 'Merge'}
      </button>
      {a.result && <ArtifactView artifact={a.result} />}
    </form>
  );
}

const COMBINATIONS = ['LINEAR', 'CAT', 'SVD', 'TIES', 'DARE_LINEAR', 'DARE_TIES', 'MAGNITUDE_PRUNE'];

function CombineForm({ jobs }: { jobs: Jobs }) {
  const [rows, setRows] = useState([
    { jobId: '', weight: '1' },
    { jobId: '', weight: '1' },
  ]);
  const [type, setType] = useState('LINEAR');
  const [name, setName] = useState('');
  const a = useAction();
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const adapters = rows.map((r) => ({ jobId: r.jobId, weight: Number(r.weight) }));
    if (adapters.some((x) => !x.jobId || !Number.isFinite(x.weight))) {
      a.setError('every row needs a job and a numeric weight');
      return;
    }
    a.run(
      async () =>
        (
          await gql<{ combineAdapters: ArtifactResult }>(
            `mutation Combine($input: CombineAdaptersInput!) { combineAdapters(input: $input) { ${ARTIFACT} } }`,
            { input: { adapters, combinationType: type, name: name || undefined } },
          )
        ).combineAdapters,
    );
  };
  return (
    <form className="panel" onSubmit={submit}>
      <h3>Combine adapters</h3>
      {rows.map((r, i) => (
        // biome-ignore lint/suspicious/noArrayIndexKey: rows are positional
        <div className="form-grid" key={i}>
          <div className="form-row">
            <label htmlFor={`combine-job-${i}`}>Adapter {i + 1}</label>
            <JobSelect
              id={`combine-job-${i}`}
              jobs={jobs}
              value={r.jobId}
              onChange={(v) => setRows(rows.map((x, k) => (k === i ? { ...x, jobId: v } : x)))}
            />
          </div>
          <div className="form-row">
            <label htmlFor={`combine-weight-${i}`}>Weight</label>
            <input
              id={`combine-weight-${i}`}
              value={r.weight}
              onChange={(e) => setRows(rows.map((x, k) => (k === i ? { ...x, weight: e.target.value } : x)))}
            />
          </div>
        </div>
      ))}
      <div className="toolbar">
        <button type="button" onClick={() => setRows([...rows, { jobId: '', weight: '1' }])}>
          Add adapter
        </button>
        <select aria-label="combination type" value={type} onChange={(e) => setType(e.target.value)}>
          {COMBINATIONS.map((c) => (
            <option key={c}>{c}</option>
          ))}
        </select>
        <input aria-label="name" placeholder="name (optional)" value={name} onChange={(e) => setName(e.target.value)} />
      </div>
      <ErrorBox error={a.error} />
      <button type="submit" disabled={a.busy}>
        {a.busy ? 'Combining…' : 'Combine'}
      </button>
      {a.result && <ArtifactView artifact={a.result} />}
    </form>
  );
}

function ExportForm({ jobs, models }: { jobs: Jobs; models: { id: string; name: string }[] }) {
  const [source, setSource] = useState('');
  const [format, setFormat] = useState('SAFETENSORS');
  const [dtype, setDtype] = useState('F32');
  const a = useAction();
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const [kind, id] = source.split(':');
    const input = { [kind === 'job' ? 'jobId' : 'baseModelId']: id, format, dtype };
    a.run(
      async () =>
        (
          await gql<{ exportModel: ArtifactResult }>(
            `mutation Export($input: ExportModelInput!) { exportModel(input: $input) { ${ARTIFACT} } }`,
            { input },
          )
        ).exportModel,
    );
  };
  return (
    <form className="panel" onSubmit={submit}>
      <h3>Export a model</h3>
      <div className="form-grid">
        <div className="form-row">
          <label htmlFor="export-source">Model</label>
          <select id="export-source" value={source} onChange={(e) => setSource(e.target.value)}>
            <option value="">choose</option>
            {jobs.map((j) => (
              <option key={j.id} value={`job:${j.id}`}>
                job {j.name || j.id} (adapter merged on the fly)
              </option>
            ))}
            {models.map((m) => (
              <option key={m.id} value={`base:${m.id}`}>
                base {m.name}
              </option>
            ))}
          </select>
        </div>
        <div className="form-row">
          <label htmlFor="export-format">Format</label>
          <select id="export-format" value={format} onChange={(e) => setFormat(e.target.value)}>
            <option>SAFETENSORS</option>
            <option>ONNX</option>
          </select>
        </div>
        <div className="form-row">
          <label htmlFor="export-dtype">dtype</label>
          <select id="export-dtype" value={dtype} onChange={(e) => setDtype(e.target.value)}>
            <option>F32</option>
            <option>F16</option>
            <option>BF16</option>
          </select>
        </div>
      </div>
      <ErrorBox error={a.error} />
      <button type="submit" disabled={!source || a.busy}>
        {a.busy ? 'Exporting…' : 'Export'}
      </button>
      {a.result && <ArtifactView artifact={a.result} />}
    </form>
  );
}
