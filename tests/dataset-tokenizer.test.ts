// tokenizer.base_model_id: the dataset service asks the trainer service for a registered base model's directory
// and tokenises with it, but only inside its own model roots. Real nats-server, real trainer and dataset services.

import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadTokenizer, makeTinyModel, tokenizeRows } from '../packages/engine/src/index.js';
import { ClientError, Status } from '../packages/kit/src/index.js';
import { DatasetFormat, DatasetStatus, type ImportOptions } from '../proto/src/index.js';
import { startTestMesh, type TestMesh } from './support/mesh.js';

let mesh: TestMesh<'dataset' | 'trainer'>;
let tmp: string;

const ROWS = [
  { text: 'The film was brilliant.', label: 1 },
  { text: 'What a dull evening.', label: 0 },
  { text: 'I loved it.', label: 1 },
  { text: 'Avoid it.', label: 0 },
];

beforeAll(async () => {
  mesh = await startTestMesh({
    name: 'tm-dataset-tok-',
    services: ['dataset', 'trainer'],
    // The dataset service resolves base_model_id through the trainer.
    datasetAsksTrainer: true,
    models: { tiny: { arch: 'qwen2', seed: 3 } },
    data: [],
    prepare: async ({ tmp, data }) => {
      await writeFile(join(data, 'reviews.jsonl'), `${ROWS.map((r) => JSON.stringify(r)).join('\n')}\n`);
      await makeTinyModel({ arch: 'qwen2', out: join(tmp, 'elsewhere', 'other'), seed: 4 });
    },
    // The trainer may read both roots; the dataset service only the first.
    env: ({ tmp, models }) => ({ trainer: { TRAINER_MODEL_ROOTS: `${models},${join(tmp, 'elsewhere')}` } }),
    client: { component: 'test', defaultDeadlineMs: 20_000 },
  });
  ({ tmp } = mesh);
}, 60_000);

afterAll(async () => {
  await mesh?.close();
});

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
    const trainerClient = mesh.clients.trainer;
    const datasetClient = mesh.clients.dataset;
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
    const trainerClient = mesh.clients.trainer;
    const datasetClient = mesh.clients.dataset;
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
