// Generation playground: a prompt through a base model or a job's adapter (the `generate` mutation).
import { type FormEvent, useState } from 'react';
import { ApiError, gql } from '../api';
import { ErrorBox } from '../components/common';
import { useQuery } from '../hooks';

export function PlaygroundPage() {
  const { data, error } = useQuery<{
    baseModels: { edges: { node: { id: string; name: string } }[] } | null;
    fineTuneJobs: { edges: { node: { id: string; name: string; method: string | null } }[] } | null;
  }>(`query Playground {
    baseModels(first: 100) { edges { node { id name } } }
    fineTuneJobs(first: 100, status: SUCCEEDED) { edges { node { id name method } } }
  }`);
  const [model, setModel] = useState('');
  const [prompt, setPrompt] = useState('');
  const [maxNewTokens, setMaxNewTokens] = useState('64');
  const [output, setOutput] = useState<{ text: string; finishReason: string }>();
  const [runError, setRunError] = useState<ApiError | string>();
  const [busy, setBusy] = useState(false);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const n = Number(maxNewTokens);
    if (!Number.isInteger(n) || n < 1) {
      setRunError('max new tokens must be a whole number ≥ 1');
      return;
    }
    const [kind, id] = model.split(':');
    setBusy(true);
    setRunError(undefined);
    try {
      const r = await gql<{ generate: { text: string; finishReason: string } }>(
        'mutation Generate($input: GenerateInput!) { generate(input: $input) { text finishReason } }',
        { input: { [kind === 'job' ? 'jobId' : 'baseModelId']: id, prompt, maxNewTokens: n } },
      );
      setOutput(r.generate);
    } catch (err) {
      setRunError(err instanceof ApiError ? err : String(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <section>
      <h2>Playground</h2>
      <ErrorBox error={error} />
      <form className="panel" onSubmit={submit}>
        <div className="form-grid">
          <div className="form-row">
            <label htmlFor="pg-model">Model</label>
            <select id="pg-model" value={model} onChange={(e) => setModel(e.target.value)}>
              <option value="">choose</option>
              {data?.baseModels?.edges.map(({ node }) => (
                <option key={node.id} value={`base:${node.id}`}>
                  base {node.name}
                </option>
              ))}
              {data?.fineTuneJobs?.edges.map(({ node }) => (
                <option key={node.id} value={`job:${node.id}`}>
                  job {node.name || node.id} ({node.method})
                </option>
              ))}
            </select>
          </div>
          <div className="form-row">
            <label htmlFor="pg-max">Max new tokens</label>
            <input id="pg-max" value={maxNewTokens} onChange={(e) => setMaxNewTokens(e.target.value)} />
          </div>
        </div>
        <div className="form-row">
          <label htmlFor="pg-prompt">Prompt</label>
          <textarea id="pg-prompt" rows={5} value={prompt} onChange={(e) => setPrompt(e.target.value)} />
        </div>
        <ErrorBox error={runError} />
        <button type="submit" disabled={!model || prompt === '' || busy}>
          {busy ? 'Generating…' : 'Generate'}
        </button>
      </form>
      {output && (
        <div className="panel" data-testid="generation">
          <pre className="output">
            <span className="muted">{prompt}</span>
            {output.text}
          </pre>
          <p className="muted">finish reason: {output.finishReason}</p>
        </div>
      )}
    </section>
  );
}
