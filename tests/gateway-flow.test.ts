// The flow issue 9 names, through the gateway only (HTTP and WebSocket), on the real mesh: nats-server, the
// dataset and trainer services and an in-process trainer node training a tiny model for real: import →
// register → create a LoRA job → follow trainingProgress until it completes → read the job with its links →
// evaluate → merge → export (the evaluator service as well).
import { copyFile, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTinyModel } from '../packages/engine/src/index.js';
import { type MeshServiceHandle, silentLogger } from '../packages/kit/src/index.js';
import { type LocalNatsServer, startTestNats } from '../packages/kit/src/testing/index.js';
import { loadDatasetConfig, start as startDataset } from '../services/dataset/src/index.js';
import { loadEvaluatorConfig, start as startEvaluator } from '../services/evaluator/src/index.js';
import {
  type GatewayHandle,
  type GraphQLResult,
  loadGatewayConfig,
  start as startGateway,
  subscribeOverWebSocket,
} from '../services/gateway/src/index.js';
import {
  artefactRoot,
  loadTrainerConfig,
  start as startTrainer,
  startTrainerNode,
  type TrainerNodeHandle,
} from '../services/trainer/src/index.js';

const root = resolve(fileURLToPath(new URL('..', import.meta.url)));
let tmp: string;
let nats: LocalNatsServer;
let dataset: MeshServiceHandle;
let trainer: MeshServiceHandle;
let node: TrainerNodeHandle;
let gateway: GatewayHandle;
let evaluator: MeshServiceHandle;

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'tm-gateway-flow-'));
  const models = join(tmp, 'models');
  const data = join(tmp, 'data');
  const store = join(tmp, 'store');
  nats = await startTestNats();
  await mkdir(data, { recursive: true });
  await makeTinyModel({ arch: 'qwen2', out: join(models, 'tiny'), seed: 1 });
  await copyFile(join(root, 'packages/engine/src/data/testdata/chat.jsonl'), join(data, 'chat.jsonl'));
  const env = {
    HOST: '127.0.0.1',
    PORT: '0',
    NATS_URL: nats.url,
    LOG_LEVEL: 'silent',
    DATASET_STORE_DIR: join(tmp, 'dataset'),
    DATASET_DATA_ROOTS: data,
    DATASET_MODEL_ROOTS: models,
  };
  const logger = silentLogger();
  dataset = await startDataset(loadDatasetConfig(env), { logger });
  trainer = await startTrainer(
    loadTrainerConfig({ ...env, TRAINER_STORE_DIR: store, TRAINER_MODEL_ROOTS: models, DATASET_ADDR: dataset.address }),
    { logger },
  );
  node = await startTrainerNode({
    natsUrl: [nats.url],
    datasetAddr: dataset.address,
    artefactRoot: artefactRoot(store),
    logger,
    nodeId: 'node-a',
    heartbeatMs: 500,
    threads: 1,
  });
  evaluator = await startEvaluator(
    loadEvaluatorConfig({
      ...env,
      EVALUATOR_STORE_DIR: join(tmp, 'evaluator'),
      EVALUATOR_MODEL_ROOTS: models,
      // The trainer's artefact root as it is: the evaluator reads <root>/jobs/<job id>/adapter.
      EVALUATOR_ADAPTER_ROOT: artefactRoot(store),
      EVALUATOR_DATASET_ADDR: dataset.address,
      EVALUATOR_TRAINER_ADDR: trainer.address,
    }),
    { logger },
  );
  gateway = await startGateway(
    loadGatewayConfig({
      ...env,
      DATASET_ADDR: dataset.address,
      TRAINER_ADDR: trainer.address,
      EVALUATOR_ADDR: evaluator.address,
      GATEWAY_DEV_MODE: 'true',
    }),
    { logger },
  );
}, 90_000);

afterAll(async () => {
  await gateway?.stop();
  await node?.stop();
  await trainer?.stop();
  await evaluator?.stop();
  await dataset?.stop();
  await nats?.stop();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

/** A response that must have succeeded: its errors are checked here, so callers read `data` directly. */
async function graphql(
  query: string,
  variables: Record<string, unknown> = {},
): Promise<GraphQLResult & { data: Record<string, unknown> }> {
  const res = await fetch(gateway.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query, variables }),
  });
  const result = (await res.json()) as GraphQLResult;
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
