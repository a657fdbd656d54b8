// What the gateway adds for the dashboard: the built files at `/` (and a clear page when they are not built),
// the `viewer` query, dataset statistics and previews, and compareModels, against programmed gRPC servers.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Dataset, DatasetSplit, DatasetStatus, FineTuneJob, JobStatus } from '../proto/src/index.js';
import { type GatewayHarness, startGatewayHarness } from './gateway/harness.js';

let h: GatewayHarness;
let dir: string;
let origin: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tm-gw-dashboard-'));
  await mkdir(join(dir, 'site', 'assets'), { recursive: true });
  await writeFile(join(dir, 'site', 'index.html'), '<!doctype html><title>dash</title>');
  await writeFile(join(dir, 'site', 'assets', 'app-1.js'), 'console.log(1)');
  await writeFile(join(dir, 'secret.js'), 'outside');
  h = await startGatewayHarness({ DASHBOARD_DIR: join(dir, 'site') });
  origin = h.gateway.url.replace(/\/graphql$/, '');
});
afterAll(async () => {
  await h?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});
beforeEach(() => {
  h.calls.length = 0;
  for (const s of ['dataset', 'trainer', 'evaluator'] as const) h.program(s, {});
});

describe('static dashboard', () => {
  it('serves index.html at / and the built assets, nothing outside the directory', async () => {
    const index = await fetch(`${origin}/`);
    expect(index.status).toBe(200);
    expect(index.headers.get('content-type')).toContain('text/html');
    expect(index.headers.get('cache-control')).toBe('no-cache');
    expect(await index.text()).toContain('<title>dash</title>');
    const asset = await fetch(`${origin}/assets/app-1.js`);
    expect(asset.headers.get('content-type')).toContain('text/javascript');
    expect(await asset.text()).toBe('console.log(1)');
    expect((await fetch(`${origin}/assets/missing.js`)).status).toBe(404);
    expect((await fetch(`${origin}/..%2Fsecret.js`)).status).toBe(404);
    expect((await fetch(`${origin}/`, { method: 'POST' })).status).toBe(404);
  });

  it('keeps the GraphQL IDE at /graphql for browsers', async () => {
    const ide = await fetch(h.gateway.url, { headers: { accept: 'text/html' } });
    expect(await ide.text()).toContain('tunemesh GraphQL');
  });

  it('says how to build the dashboard when its files are missing', async () => {
    await h.stop();
    h = await startGatewayHarness({ DASHBOARD_DIR: join(dir, 'empty') });
    origin = h.gateway.url.replace(/\/graphql$/, '');
    const res = await fetch(`${origin}/`);
    expect(res.status).toBe(503);
    expect(await res.text()).toContain('pnpm run build');
  });
});

describe('dashboard queries', () => {
  it('viewer names the caller and its role (development mode: admin)', async () => {
    const r = await h.graphql('{ viewer { keyId role devMode } }');
    expect(r.data?.viewer).toEqual({ keyId: 'development-mode', role: 'admin', devMode: true });
  });

  it('datasetPreview passes split, paging and tokenizer, and returns tokens with their loss flag', async () => {
    h.program('dataset', {
      previewDataset: () => ({
        splitSize: 16n,
        examples: [
          {
            index: 3n,
            sourceLine: 4n,
            renderedText: 'Q A',
            promptText: 'Q',
            tokens: [
              { id: 5, text: 'Q', loss: false },
              { id: 6, text: ' A', loss: true },
            ],
            lossTokenCount: 1n,
            truncated: false,
          },
        ],
      }),
    });
    const r = await h.graphql(
      `{ datasetPreview(datasetId: "d1", split: VALIDATION, first: 2, offset: 3, tokenizerBaseModelId: "m1") {
        splitSize examples { index sourceLine tokens { id text loss } lossTokenCount truncated } } }`,
    );
    expect(r.errors).toBeUndefined();
    expect(r.data?.datasetPreview).toEqual({
      splitSize: 16,
      examples: [
        {
          index: 3,
          sourceLine: 4,
          tokens: [
            { id: 5, text: 'Q', loss: false },
            { id: 6, text: ' A', loss: true },
          ],
          lossTokenCount: 1,
          truncated: false,
        },
      ],
    });
    expect(h.calls.find((c) => c.method === 'previewDataset')?.request).toMatchObject({
      datasetId: 'd1',
      split: DatasetSplit.VALIDATION,
      count: 2,
      offset: 3n,
      tokenizer: { source: { $case: 'baseModelId', value: 'm1' } },
    });
    const bad = await h.graphql('{ datasetPreview(datasetId: "d1", first: 500) { splitSize } }');
    expect(bad.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(bad.errors?.[0]?.message).toContain('first must be a whole number from 1 to 100');
  });

  it('Dataset.statistics carries per-split token statistics and the length histogram', async () => {
    // dataset(id) reads through the batched loader (ListDatasets with ids).
    const dataset = Dataset.fromPartial({
      id: 'd1',
      name: 'chat',
      status: DatasetStatus.READY,
      statistics: {
        tokenizer: 'm1',
        splits: [
          {
            split: DatasetSplit.TRAIN,
            exampleCount: 2n,
            totalTokens: 70n,
            lossTokens: 7n,
            lossTokenFraction: 0.1,
            minLength: 30n,
            meanLength: 35,
            p50Length: 35n,
            p95Length: 40n,
            maxLength: 40n,
            lengthHistogram: { buckets: [{ lowerBound: 30n, upperBound: 41n, count: 2n }] },
            labelCounts: { pos: 1n, neg: 1n },
          },
        ],
      },
    });
    h.program('dataset', { listDatasets: () => ({ datasets: [dataset] }) });
    const r = await h.graphql(`{ dataset(id: "d1") { statistics { tokenizer splits { split exampleCount
      lossTokenFraction lengthHistogram { lowerBound upperBound count } labelCounts { label count } } } } }`);
    expect(r.errors).toBeUndefined();
    expect(r.data?.dataset).toEqual({
      statistics: {
        tokenizer: 'm1',
        splits: [
          {
            split: 'TRAIN',
            exampleCount: 2,
            lossTokenFraction: 0.1,
            lengthHistogram: [{ lowerBound: 30, upperBound: 41, count: 2 }],
            labelCounts: expect.arrayContaining([
              { label: 'pos', count: 1 },
              { label: 'neg', count: 1 },
            ]),
          },
        ],
      },
    });
  });

  it('compareModels sends the models in column order and returns outputs side by side', async () => {
    h.program('evaluator', {
      compareAdapters: () => ({
        samples: [{ index: 0n, prompt: 'P', reference: 'R', outputs: ['base', 'tuned'], losses: [2.5, 1.5] }],
        models: [],
      }),
    });
    const r = await h.graphql(
      `mutation { compareModels(input: { models: [{ baseModelId: "m1" }, { jobId: "j1" }], datasetId: "d1", first: 1,
        maxNewTokens: 8 }) { samples { index prompt reference outputs losses } } }`,
    );
    expect(r.errors).toBeUndefined();
    expect(r.data?.compareModels).toEqual({
      samples: [{ index: 0, prompt: 'P', reference: 'R', outputs: ['base', 'tuned'], losses: [2.5, 1.5] }],
    });
    expect(h.calls.find((c) => c.method === 'compareAdapters')?.request).toMatchObject({
      models: [{ target: { $case: 'baseModelId', value: 'm1' } }, { target: { $case: 'jobId', value: 'j1' } }],
      datasetId: 'd1',
      split: DatasetSplit.VALIDATION,
      count: 1,
      generation: { maxNewTokens: 8 },
    });
    const one = await h.graphql(
      'mutation { compareModels(input: { models: [{ jobId: "j1" }], datasetId: "d1" }) { samples { index } } }',
    );
    expect(one.errors?.[0]?.message).toContain('compare at least two models');
    const both = await h.graphql(
      'mutation { compareModels(input: { models: [{ jobId: "j1", baseModelId: "m1" }, { jobId: "j2" }], datasetId: "d1" }) { samples { index } } }',
    );
    expect(both.errors?.[0]?.extensions?.field).toBe('input.models[0]');
  });

  it('createFineTuneJob passes evalEverySteps (the validation-loss curve) and refuses 0', async () => {
    h.program('trainer', {
      createFineTuneJob: () => ({
        job: FineTuneJob.fromPartial({ id: 'j1', status: JobStatus.QUEUED, datasetId: 'd1', baseModelId: 'm1' }),
      }),
    });
    const create = (every: number) =>
      h.graphql(
        `mutation($every: Long) { createFineTuneJob(input: { baseModelId: "m1", datasetId: "d1", method: { lora: {} },
          hyperparameters: { maxSteps: 10, evalEverySteps: $every } }) { id } }`,
        { every },
      );
    expect((await create(5)).errors).toBeUndefined();
    expect(h.calls.find((c) => c.method === 'createFineTuneJob')?.request).toMatchObject({
      hyperparameters: { evalEverySteps: 5n },
    });
    const zero = await create(0);
    expect(zero.errors?.[0]?.extensions?.field).toBe('input.hyperparameters.evalEverySteps');
  });
});
