// Datasets: the list, and an import form (upload, a path on the dataset service's machine, or pasted JSONL).
import { type FormEvent, useState } from 'react';
import { ApiError, gql, gqlUpload } from '../api';
import { useAuth } from '../auth';
import { ErrorBox, Status } from '../components/common';
import { date, int } from '../format';
import { navigate, useQuery } from '../hooks';

interface DatasetRow {
  id: string;
  name: string;
  status: string;
  format: string | null;
  rows: { kept: number; train: number; validation: number } | null;
  createdAt: string | null;
}

const LIST = `query Datasets { datasets(first: 100) { edges { node { id name status format rows { kept train validation } createdAt } } } }`;
const MODELS = `query Models { baseModels(first: 100) { edges { node { id name } } } }`;
const IMPORT = `mutation Import($input: ImportDatasetInput!) { importDataset(input: $input) { alreadyExisted dataset { id status } } }`;

export function DatasetsPage() {
  const { can } = useAuth();
  const list = useQuery<{ datasets: { edges: { node: DatasetRow }[] } | null }>(LIST);
  const rows = list.data?.datasets?.edges.map((e) => e.node) ?? [];
  return (
    <section>
      <h2>Datasets</h2>
      <ErrorBox error={list.error} />
      <table data-testid="datasets-table">
        <thead>
          <tr>
            <th>Name</th>
            <th>Status</th>
            <th>Format</th>
            <th>Examples</th>
            <th>Train / validation</th>
            <th>Imported</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((d) => (
            <tr key={d.id}>
              <td>
                <a href={`#/datasets/${d.id}`}>{d.name}</a>
              </td>
              <td>
                <Status value={d.status} />
              </td>
              <td>{d.format ?? '—'}</td>
              <td>{int(d.rows?.kept)}</td>
              <td>
                {int(d.rows?.train)} / {int(d.rows?.validation)}
              </td>
              <td>{date(d.createdAt)}</td>
            </tr>
          ))}
          {rows.length === 0 && !list.loading && (
            <tr>
              <td colSpan={6} className="muted">
                No datasets yet.
              </td>
            </tr>
          )}
        </tbody>
      </table>
      {can('operator') && <ImportForm />}
    </section>
  );
}

type Source = 'upload' | 'path' | 'jsonl';

function ImportForm() {
  const models = useQuery<{ baseModels: { edges: { node: { id: string; name: string } }[] } | null }>(MODELS);
  const [name, setName] = useState('');
  const [source, setSource] = useState<Source>('upload');
  const [file, setFile] = useState<File | null>(null);
  const [path, setPath] = useState('');
  const [jsonl, setJsonl] = useState('');
  const [format, setFormat] = useState('');
  const [split, setSplit] = useState('0.1');
  const [seed, setSeed] = useState('');
  const [tokenizer, setTokenizer] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | string>();

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setError(undefined);
    const validationSplit = split.trim() === '' ? undefined : Number(split);
    if (validationSplit !== undefined && !(validationSplit >= 0 && validationSplit < 1)) {
      setError('validation split must be a fraction in [0, 1)');
      return;
    }
    if (seed.trim() !== '' && !Number.isInteger(Number(seed))) {
      setError('seed must be a whole number');
      return;
    }
    const input: Record<string, unknown> = {
      name: name.trim() || file?.name || 'dataset',
      format: format || undefined,
      validationSplit,
      seed: seed.trim() === '' ? undefined : Number(seed),
      tokenizerBaseModelId: tokenizer || undefined,
    };
    setBusy(true);
    try {
      type Result = { importDataset: { dataset: { id: string } } };
      let result: Result;
      if (source === 'upload') {
        if (!file) throw new ApiError('choose a file to upload', 'BAD_USER_INPUT');
        result = await gqlUpload<Result>(IMPORT, { input: { ...input, upload: null } }, 'variables.input.upload', file);
      } else if (source === 'path') {
        result = await gql<Result>(IMPORT, { input: { ...input, path: path.trim() } });
      } else {
        result = await gql<Result>(IMPORT, { input: { ...input, jsonl } });
      }
      navigate(`/datasets/${result.importDataset.dataset.id}`);
    } catch (err) {
      setError(err instanceof ApiError ? err : String(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <form className="panel" onSubmit={submit} data-testid="import-form">
      <h3>Import a dataset</h3>
      <div className="form-row">
        <label htmlFor="import-name">Name</label>
        <input
          id="import-name"
          value={name}
          onChange={(e) => setName(e.target.value)}
          placeholder="default: file name"
        />
      </div>
      <fieldset className="form-row">
        <legend>Source</legend>
        {(['upload', 'path', 'jsonl'] as const).map((s) => (
          <label key={s} className="inline">
            <input type="radio" name="source" value={s} checked={source === s} onChange={() => setSource(s)} />
            {s === 'upload' ? 'Upload a file' : s === 'path' ? 'Path on the server' : 'Paste JSONL'}
          </label>
        ))}
      </fieldset>
      {source === 'upload' && (
        <div className="form-row">
          <label htmlFor="import-file">File (JSONL, JSON, CSV, Parquet)</label>
          <input id="import-file" type="file" onChange={(e) => setFile(e.target.files?.[0] ?? null)} />
        </div>
      )}
      {source === 'path' && (
        <div className="form-row">
          <label htmlFor="import-path">Path on the dataset service's machine</label>
          <input id="import-path" value={path} onChange={(e) => setPath(e.target.value)} />
        </div>
      )}
      {source === 'jsonl' && (
        <div className="form-row">
          <label htmlFor="import-jsonl">One JSON object per line</label>
          <textarea id="import-jsonl" rows={6} value={jsonl} onChange={(e) => setJsonl(e.target.value)} />
        </div>
      )}
      <div className="form-grid">
        <div className="form-row">
          <label htmlFor="import-format">Format</label>
          <select id="import-format" value={format} onChange={(e) => setFormat(e.target.value)}>
            <option value="">detect</option>
            {['ALPACA', 'CHAT', 'TEXT', 'CLASSIFICATION', 'TOKENIZED'].map((f) => (
              <option key={f}>{f}</option>
            ))}
          </select>
        </div>
        <div className="form-row">
          <label htmlFor="import-split">Validation split</label>
          <input id="import-split" value={split} onChange={(e) => setSplit(e.target.value)} />
        </div>
        <div className="form-row">
          <label htmlFor="import-seed">Seed</label>
          <input id="import-seed" value={seed} onChange={(e) => setSeed(e.target.value)} placeholder="default" />
        </div>
        <div className="form-row">
          <label htmlFor="import-tokenizer">Tokenizer (for token statistics)</label>
          <select id="import-tokenizer" value={tokenizer} onChange={(e) => setTokenizer(e.target.value)}>
            <option value="">none</option>
            {models.data?.baseModels?.edges.map(({ node }) => (
              <option key={node.id} value={node.id}>
                {node.name}
              </option>
            ))}
          </select>
        </div>
      </div>
      <ErrorBox error={error} />
      <button type="submit" disabled={busy}>
        {busy ? 'Importing…' : 'Import'}
      </button>
    </form>
  );
}
