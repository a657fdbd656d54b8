// tokenizer.base_model_id: the dataset service asks the trainer service for a registered base model's directory
// and tokenises with it, but only inside its own model roots. Real nats-server, real trainer and dataset services.

import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadTokenizer, makeTinyModel, tokenizeRows } from '../packages/engine/src/index.js';
import {
  ClientError,
  createServiceClient,
  type GrpcChannel,
  type MeshServiceHandle,
  openChannel,
  Status,
  silentLogger,
} from '../packages/kit/src/index.js';
import { type LocalNatsServer, startTestNats } from '../packages/kit/src/testing/index.js';
import {
  DatasetFormat,
  DatasetServiceDefinition,
  DatasetStatus,
  type ImportOptions,
  TrainerServiceDefinition,
} from '../proto/src/index.js';
import { loadDatasetConfig, start as startDataset } from '../services/dataset/src/index.js';
import { loadTrainerConfig, start as startTrainer } from '../services/trainer/src/index.js';

const tmp = await mkdtemp(join(tmpdir(), 'tm-dataset-tok-'));
let nats: LocalNatsServer;
let trainer: MeshServiceHandle;
let dataset: MeshServiceHandle;
const channels: GrpcChannel[] = [];

const ROWS = [
  { text: 'The film was brilliant.', label: 1 },
  { text: 'What a dull evening.', label: 0 },
  { text: 'I loved it.', label: 1 },
  { text: 'Avoid it.', label: 0 },
];

beforeAll(async () => {
  nats = await startTestNats();
  await mkdir(join(tmp, 'data'), { recursive: true });
  await writeFile(join(tmp, 'data', 'reviews.jsonl'), `${ROWS.map((r) => JSON.stringify(r)).join('\n')}\n`);
  await makeTinyModel({ arch: 'qwen2', out: join(tmp, 'models', 'tiny'), seed: 3 });
  await makeTinyModel({ arch: 'qwen2', out: join(tmp, 'elsewhere', 'other'), seed: 4 });
  const env = { HOST: '127.0.0.1', PORT: '0', NATS_URL: nats.url, LOG_LEVEL: 'silent' };
  const logger = silentLogger();
  trainer = await startTrainer(
    loadTrainerConfig({
      ...env,
      TRAINER_STORE_DIR: join(tmp, 'trainer'),
      // The trainer may read both roots; the dataset service only the first.
      TRAINER_MODEL_ROOTS: `${join(tmp, 'models')},${join(tmp, 'elsewhere')}`,
    }),
    { logger },
  );
  dataset = await startDataset(
    loadDatasetConfig({
      ...env,
      DATASET_STORE_DIR: join(tmp, 'dataset'),
      DATASET_DATA_ROOTS: join(tmp, 'data'),
      DATASET_MODEL_ROOTS: join(tmp, 'models'),
      DATASET_TRAINER_ADDR: trainer.address,
    }),
    { logger },
  );
}, 60_000);

afterAll(async () => {
  for (const c of channels) c.close();
  await dataset?.stop();
  await trainer?.stop();
  await nats?.stop();
  await rm(tmp, { recursive: true, force: true });
});

function client<D extends typeof DatasetServiceDefinition | typeof TrainerServiceDefinition>(def: D, address: string) {
  const ch = openChannel(address);
  channels.push(ch);
  return createServiceClient(def, ch.channel, { component: 'test', defaultDeadlineMs: 20_000 });
}

function options(tokenizerBaseModelId: string): ImportOptions {
  return {
    name: 'reviews',
    fileFormat: 0,
    format: DatasetFormat.CLASSIFICATION,
    maxLength: 0,
    overlengthPolicy: 0,
    removeDuplicates: false,
    template: {
      promptTemplate: 'Review: {text}\nSentiment:',
      labelWords: { '0': ' negative', '1': ' positive' },
      chatTemplate: '',
      defaultSystemPrompt: '',
      trainOnPrompt: false,
    },
    tokenizer: { source: { $case: 'baseModelId', value: tokenizerBaseModelId } },
  };
}

async function rpcError(p: Promise<unknown>): Promise<ClientError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ClientError);
  return err as ClientError;
}

describe('tokenizer.base_model_id', () => {
  it('tokenises with the registered model and counts what the engine counts', async () => {
    const trainerClient = client(TrainerServiceDefinition, trainer.address);
    const datasetClient = client(DatasetServiceDefinition, dataset.address);
    const { baseModel } = await trainerClient.registerBaseModel({ name: 'tiny', path: join(tmp, 'models', 'tiny') });
    const id = baseModel?.id ?? '';
    expect(id).not.toBe('');
    const res = await datasetClient.importDatasetFromPath({
      path: join(tmp, 'data', 'reviews.jsonl'),
      options: options(id),
      validationPath: '',
    });
    expect(res.dataset?.status).toBe(DatasetStatus.READY);
    const splits = res.dataset?.statistics?.splits ?? [];
    const total = splits.reduce((a, s) => a + Number(s.totalTokens), 0);
    // Independent count: the engine's tokenizer and templating over the same rows.
    const tok = await loadTokenizer(join(tmp, 'models', 'tiny'));
    const rows = tokenizeRows(
      ROWS.map((r, i) => ({ format: 'classification' as const, text: r.text, label: String(r.label), line: i + 1 })),
      tok,
      {
        classification: { template: 'Review: {text}\nSentiment:', labelWords: { '0': ' negative', '1': ' positive' } },
      },
    );
    expect(total).toBe(rows.reduce((a, r) => a + r.input_ids.length, 0));
  });

  it('an unknown id is NOT_FOUND; a model outside the dataset service roots is PERMISSION_DENIED', async () => {
    const trainerClient = client(TrainerServiceDefinition, trainer.address);
    const datasetClient = client(DatasetServiceDefinition, dataset.address);
    const unknown = await rpcError(
      datasetClient.importDatasetFromPath({
        path: join(tmp, 'data', 'reviews.jsonl'),
        options: options('bm-nope'),
        validationPath: '',
      }),
    );
    expect(unknown.code).toBe(Status.NOT_FOUND);
    expect(unknown.details).toMatch(/base_model_id.*bm-nope/);
    const { baseModel } = await trainerClient.registerBaseModel({
      name: 'other',
      path: join(tmp, 'elsewhere', 'other'),
    });
    const outside = await rpcError(
      datasetClient.importDatasetFromPath({
        path: join(tmp, 'data', 'reviews.jsonl'),
        options: options(baseModel?.id ?? ''),
        validationPath: '',
      }),
    );
    expect(outside.code).toBe(Status.PERMISSION_DENIED);
    expect(outside.details).toMatch(/base_model_id/);
  });
});
