// New fine-tuning job: method settings come from the `methods` query (every method, its JSON Schema and the
// trainer's defaults), so a method added to the gateway appears here without a change to the page.
import { type FormEvent, useEffect, useMemo, useState } from 'react';
import { ApiError, gql } from '../api';
import { ErrorBox } from '../components/common';
import {
  type FormValues,
  initialValues,
  type ObjectSchema,
  type PropertySchema,
  parseForm,
  SchemaForm,
} from '../components/SchemaForm';
import { navigate, useQuery } from '../hooks';

interface Method {
  key: string;
  kind: string;
  description: string;
  settingsSchema: ObjectSchema;
  defaults: Record<string, unknown>;
}

const LOOKUPS = `query NewJob {
  methods { key kind description settingsSchema defaults }
  baseModels(first: 100) { edges { node { id name architecture defaultTargetModules } } }
  datasets(first: 100) { edges { node { id name status } } }
}`;

const CREATE = `mutation Create($input: CreateFineTuneJobInput!) { createFineTuneJob(input: $input) { id status } }`;

// Hyperparameters (HyperparametersInput) as a schema too, so they share the form's parsing and validation.
const HYPERPARAMETERS: ObjectSchema = {
  properties: {
    epochs: {
      type: 'number',
      minimum: 0,
      description: 'Passes over the training split (default 3); exclusive with maxSteps.',
    },
    maxSteps: { type: 'integer', minimum: 1, description: 'Optimiser steps; exclusive with epochs.' },
    learningRate: { type: 'number', minimum: 0, description: 'Peak learning rate.' },
    batchSize: { type: 'integer', minimum: 1, description: 'Examples per micro-batch.' },
    gradientAccumulationSteps: { type: 'integer', minimum: 1, description: 'Micro-batches per optimiser step.' },
    maxSeqLength: { type: 'integer', minimum: 1, description: 'Tokens per example at most.' },
    seed: { type: 'integer', minimum: 0, description: 'Seed of shuffling and initialisation.' },
    evalEverySteps: {
      type: 'integer',
      minimum: 1,
      description: 'Validation loss every N steps (a curve beside the training loss); empty: at the end only.',
    },
  } satisfies Record<string, PropertySchema>,
};

const METRICS = ['LOSS', 'PERPLEXITY', 'ACCURACY', 'F1', 'EXACT_MATCH', 'TOKEN_F1', 'ROUGE_L', 'BLEU'];

export function NewJobPage() {
  const { data, error } = useQuery<{
    methods: Method[];
    baseModels: { edges: { node: { id: string; name: string; architecture: string } }[] } | null;
    datasets: { edges: { node: { id: string; name: string; status: string } }[] } | null;
  }>(LOOKUPS);
  const methods = data?.methods ?? [];
  const models = data?.baseModels?.edges.map((e) => e.node) ?? [];
  const datasets = data?.datasets?.edges.map((e) => e.node).filter((d) => d.status === 'READY') ?? [];

  const [methodKey, setMethodKey] = useState('lora');
  const method = methods.find((m) => m.key === methodKey);
  const [settings, setSettings] = useState<FormValues>({});
  const [hyper, setHyper] = useState<FormValues>({ epochs: '', maxSteps: '', learningRate: '' });
  const [baseModelId, setBaseModelId] = useState('');
  const [datasetId, setDatasetId] = useState('');
  const [name, setName] = useState('');
  const [metrics, setMetrics] = useState<string[]>([]);
  const [busy, setBusy] = useState(false);
  const [submitError, setSubmitError] = useState<ApiError | string>();

  // A method's defaults fill its form whenever the method changes.
  useEffect(() => {
    if (method) setSettings(initialValues(method.settingsSchema, method.defaults));
  }, [method]);
  useEffect(() => {
    if (baseModelId === '' && models[0]) setBaseModelId(models[0].id);
    if (datasetId === '' && datasets[0]) setDatasetId(datasets[0].id);
  }, [models, datasets, baseModelId, datasetId]);

  const parsedSettings = useMemo(
    () => (method ? parseForm(method.settingsSchema, settings) : { value: {}, errors: {} }),
    [method, settings],
  );
  const parsedHyper = useMemo(() => parseForm(HYPERPARAMETERS, hyper), [hyper]);
  const bothSteps = parsedHyper.value.epochs !== undefined && parsedHyper.value.maxSteps !== undefined;
  const invalid =
    Object.keys(parsedSettings.errors).length > 0 ||
    Object.keys(parsedHyper.errors).length > 0 ||
    bothSteps ||
    !baseModelId ||
    !datasetId;

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (invalid || !method) return;
    setBusy(true);
    setSubmitError(undefined);
    try {
      const input = {
        baseModelId,
        datasetId,
        name: name.trim() || undefined,
        method: { [method.key]: parsedSettings.value },
        hyperparameters: parsedHyper.value,
        evaluationMetrics: metrics.length > 0 ? metrics : undefined,
        // A double click or a retried request must not start a second job.
        idempotencyKey: crypto.randomUUID(),
      };
      const res = await gql<{ createFineTuneJob: { id: string } }>(CREATE, { input });
      navigate(`/jobs/${res.createFineTuneJob.id}`);
    } catch (err) {
      setSubmitError(err instanceof ApiError ? err : String(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <section>
      <h2>New fine-tuning job</h2>
      <ErrorBox error={error} />
      <form onSubmit={submit} data-testid="new-job-form">
        <div className="form-grid">
          <div className="form-row">
            <label htmlFor="job-name">Name</label>
            <input id="job-name" value={name} onChange={(e) => setName(e.target.value)} placeholder="optional" />
          </div>
          <div className="form-row">
            <label htmlFor="job-model">Base model</label>
            <select id="job-model" value={baseModelId} onChange={(e) => setBaseModelId(e.target.value)}>
              {models.length === 0 && <option value="">no base models registered</option>}
              {models.map((m) => (
                <option key={m.id} value={m.id}>
                  {m.name} ({m.architecture})
                </option>
              ))}
            </select>
          </div>
          <div className="form-row">
            <label htmlFor="job-dataset">Dataset</label>
            <select id="job-dataset" value={datasetId} onChange={(e) => setDatasetId(e.target.value)}>
              {datasets.length === 0 && <option value="">no READY datasets</option>}
              {datasets.map((d) => (
                <option key={d.id} value={d.id}>
                  {d.name} ({d.id})
                </option>
              ))}
            </select>
          </div>
          <div className="form-row">
            <label htmlFor="job-method">Method</label>
            <select id="job-method" value={methodKey} onChange={(e) => setMethodKey(e.target.value)}>
              {methods.map((m) => (
                <option key={m.key} value={m.key}>
                  {m.kind}
                </option>
              ))}
            </select>
          </div>
        </div>
        {method && (
          <fieldset className="panel">
            <legend>{method.kind} settings</legend>
            <p className="muted">{method.description}</p>
            <SchemaForm
              idPrefix="method"
              schema={method.settingsSchema}
              values={settings}
              errors={parsedSettings.errors}
              onChange={setSettings}
            />
          </fieldset>
        )}
        <fieldset className="panel">
          <legend>Hyperparameters</legend>
          <SchemaForm
            idPrefix="hp"
            schema={HYPERPARAMETERS}
            values={hyper}
            errors={parsedHyper.errors}
            onChange={setHyper}
          />
          {bothSteps && <p className="error">Set epochs or maxSteps, not both.</p>}
        </fieldset>
        <fieldset className="panel">
          <legend>Evaluation metrics after training (optional)</legend>
          {METRICS.map((m) => (
            <label key={m} className="inline">
              <input
                type="checkbox"
                checked={metrics.includes(m)}
                onChange={(e) => setMetrics(e.target.checked ? [...metrics, m] : metrics.filter((x) => x !== m))}
              />
              {m}
            </label>
          ))}
        </fieldset>
        <ErrorBox error={submitError} />
        <button type="submit" disabled={invalid || busy}>
          {busy ? 'Starting…' : 'Start job'}
        </button>
      </form>
    </section>
  );
}
