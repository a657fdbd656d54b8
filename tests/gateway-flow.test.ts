// The flow issue 9 names, through the gateway only (HTTP and WebSocket), on the real mesh: nats-server, the
// dataset and trainer services and an in-process trainer node training a tiny model for real: import →
// register → create a LoRA job → follow trainingProgress until it completes → read the job with its links →
// evaluate → merge → export (the evaluator service as well).
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type GatewayHandle, type GraphQLResult, subscribeOverWebSocket } from '../services/gateway/src/index.js';
import { startTestMesh, type TestMesh } from './support/mesh.js';

let mesh: TestMesh<'dataset' | 'trainer' | 'evaluator' | 'gateway'>;
let tmp: string;
let gateway: GatewayHandle;

beforeAll(async () => {
  mesh = await startTestMesh({
    name: 'tm-gateway-flow-',
    services: ['dataset', 'trainer', 'evaluator', 'gateway'],
    node: { nodeId: 'node-a', heartbeatMs: 500, threads: 1 },
    env: { gateway: { GATEWAY_DEV_MODE: 'true' } },
  });
  ({ tmp, gateway } = mesh);
}, 90_000);

afterAll(async () => {
  await mesh?.close();
});

/** A response that must have succeeded: its errors are checked here, so callers read `data` directly. */
async function graphql(
  query: string,
  variables: Record<string, unknown> = {},
): Promise<GraphQLResult & { data: Record<string, unknown> }> {
  const result = await mesh.graphql(query, variables);
  expect(result.errors, JSON.stringify(result.errors)).toBeUndefined();
  expect(result.data).toBeTruthy();
  return { ...result, data: result.data ?? {} };
}

describe('import → register → LoRA job → progress until completion', () => {
  it('runs through the gateway', async () => {
    const imported = await graphql(
      `mutation { importDataset(input: {name: "chat", path: "${join(tmp, 'data', 'chat.jsonl')}", format: CHAT, validationSplit: 0.2, seed: 42}) {
        dataset { id status } } }`,
    );
    const datasetId = (imported.data.importDataset as { dataset: { id: string; status: string } }).dataset.id;
    expect((imported.data.importDataset as { dataset: { status: string } }).dataset.status).toBe('READY');

    const registered = await graphql(
      `mutation { registerBaseModel(input: {name: "tiny", path: "${join(tmp, 'models', 'tiny')}"}) { id architecture defaultTargetModules } }`,
    );
    const baseModelId = (registered.data.registerBaseModel as { id: string }).id;

    const created = await graphql(
      `mutation($input: CreateFineTuneJobInput!) { createFineTuneJob(input: $input) { id status } }`,
      {
        input: {
          baseModelId,
          datasetId,
          method: { lora: { r: 4, dropout: 0 } },
          hyperparameters: { maxSteps: 3, learningRate: 0.001, batchSize: 4, maxSeqLength: 64 },
          idempotencyKey: 'flow-1',
        },
      },
    );
    const job = created.data.createFineTuneJob as { id: string; status: string };
    expect(['QUEUED', 'RUNNING', 'VALIDATING']).toContain(job.status);

    // The same idempotency key gives the same job, not a second one.
    const again = await graphql(
      `mutation($input: CreateFineTuneJobInput!) { createFineTuneJob(input: $input) { id } }`,
      {
        input: {
          baseModelId,
          datasetId,
          method: { lora: { r: 4, dropout: 0 } },
          hyperparameters: { maxSteps: 3, learningRate: 0.001, batchSize: 4, maxSeqLength: 64 },
          idempotencyKey: 'flow-1',
        },
      },
    );
    expect((again.data.createFineTuneJob as { id: string }).id).toBe(job.id);

    const sub = subscribeOverWebSocket(gateway.wsUrl, {
      query: `subscription($id: ID!) { trainingProgress(jobId: $id) { sequence kind step totalSteps loss learningRate tokensPerSecond status } }`,
      variables: { id: job.id },
    });
    const events = (await sub.done).map(
      (r) =>
        r.data?.trainingProgress as {
          sequence: number;
          kind: string;
          step: number | null;
          loss: number | null;
          status: string | null;
        },
    );
    await sub.close();
    const sequences = events.map((e) => e.sequence);
    expect(sequences).toEqual([...sequences].sort((a, b) => a - b));
    expect(new Set(sequences).size).toBe(sequences.length);
    expect(events.at(-1)).toMatchObject({ kind: 'COMPLETED', status: 'SUCCEEDED' });
    const progress = events.filter((e) => e.kind === 'PROGRESS');
    expect(progress.length).toBeGreaterThan(0);
    expect(progress.every((e) => Number.isFinite(e.loss))).toBe(true);

    const unknown = subscribeOverWebSocket(gateway.wsUrl, {
      query: 'subscription { trainingProgress(jobId: "job-nope") { sequence } }',
    });
    expect((await unknown.done)[0]?.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    await unknown.close();

    const read = await graphql(
      `query($id: ID!) { fineTuneJob(id: $id) { id status method adapter { path sizeBytes } dataset { id } baseModel { id } checkpoints { step } } }`,
      { id: job.id },
    );
    expect(read.data?.fineTuneJob).toMatchObject({
      id: job.id,
      status: 'SUCCEEDED',
      method: 'LORA',
      dataset: { id: datasetId },
      baseModel: { id: baseModelId },
    });
    const adapter = (read.data.fineTuneJob as { adapter: { path: string; sizeBytes: number } | null }).adapter;
    expect(adapter?.path).toBeTruthy();
    expect(adapter?.sizeBytes).toBeGreaterThan(0);

    const evaluation = await graphql(
      `mutation($input: EvaluateAdapterInput!) { evaluateAdapter(input: $input) { id status metrics { name value } job { id } } }`,
      { input: { jobId: job.id, datasetId, split: 'VALIDATION', metrics: ['LOSS', 'PERPLEXITY'] } },
    );
    const evalId = (evaluation.data.evaluateAdapter as { id: string }).id;
    let finished:
      | { status: string; metrics: { name: string; value: number }[]; job: { id: string } | null }
      | undefined;
    for (let i = 0; i < 300; i++) {
      const r = await graphql('query($id: ID!) { evaluation(id: $id) { status metrics { name value } job { id } } }', {
        id: evalId,
      });
      finished = r.data.evaluation as typeof finished;
      if (finished && ['SUCCEEDED', 'FAILED', 'CANCELLED'].includes(finished.status)) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(finished?.status).toBe('SUCCEEDED');
    expect(finished?.job).toEqual({ id: job.id });
    expect(finished?.metrics.map((m) => m.name).sort()).toEqual(['LOSS', 'PERPLEXITY']);

    const lists = await graphql(
      `query($job: ID!, $data: ID!) {
        trainerNodes { id state }
        baseModels { edges { node { id } } }
        evaluations(jobId: $job) { edges { node { id } } }
        leaderboard(datasetId: $data, metric: LOSS) { higherIsBetter entries { evaluationId jobId baseModelId } }
      }`,
      { job: job.id, data: datasetId },
    );
    expect(lists.data?.trainerNodes).toEqual([expect.objectContaining({ id: 'node-a' })]);
    expect(lists.data?.baseModels).toEqual({ edges: [{ node: { id: baseModelId } }] });
    // The evaluator may also have evaluated the job on its own when it completed, and a baseline: ours is there.
    expect((lists.data.evaluations as { edges: unknown[] }).edges).toEqual(
      expect.arrayContaining([{ node: { id: evalId } }]),
    );
    expect(lists.data?.leaderboard).toMatchObject({ higherIsBetter: false });
    expect((lists.data.leaderboard as { entries: unknown[] }).entries).toEqual(
      // The evaluator names the base model by the trainer's id, as baseModels does.
      expect.arrayContaining([{ evaluationId: evalId, jobId: job.id, baseModelId }]),
    );

    const merged = await graphql(
      `mutation($id: ID!) { mergeAdapter(input: {jobId: $id, dtype: F32}) { id kind location { path sizeBytes } } }`,
      { id: job.id },
    );
    const artifact = merged.data.mergeAdapter as { id: string; kind: string };
    expect(artifact.kind).toBe('MERGED_MODEL');
    const exported = await graphql(
      `mutation($id: ID!) { exportModel(input: {artifactId: $id, format: SAFETENSORS, dtype: F16}) { id kind location { sizeBytes } } }`,
      { id: artifact.id },
    );
    expect((exported.data.exportModel as { location: { sizeBytes: number } }).location.sizeBytes).toBeGreaterThan(0);
  }, 120_000);
});
