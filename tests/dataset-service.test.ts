// The dataset service over gRPC with a real nats-server: import by path and by upload, validation reports,
// idempotent re-import, the seeded split, paging, delete, path and size limits, and the NATS events. Runs on
// SQLite, and on PostgreSQL where the test server is reachable (reported as skipped elsewhere).

import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ClientError,
  createServiceClient,
  type MeshServiceHandle,
  openChannel,
  type ServiceClient,
  Status,
  silentLogger,
} from '../packages/kit/src/index.js';
import { type LocalNatsServer, startTestNats } from '../packages/kit/src/testing/index.js';
import {
  DatasetFailed,
  DatasetFormat,
  DatasetReady,
  DatasetServiceDefinition,
  DatasetSplit,
  DatasetStatus,
  FindingKind,
  type ImportDatasetRequest,
  type ImportOptions,
  SplitInfo_Source,
  SUBJECTS,
} from '../proto/src/index.js';
import { contentHash } from '../services/dataset/src/import/settings.js';
import { loadDatasetConfig, start } from '../services/dataset/src/index.js';
import { ArtefactStore } from '../services/dataset/src/store/artefacts.js';
import { openDatabase } from '../services/dataset/src/store/db.js';
import { dropSchema, PG_TEST_URL, pgReachable } from '../services/dataset/src/store/pg-test.js';
import { DatasetRecords } from '../services/dataset/src/store/records.js';

const root = resolve(fileURLToPath(new URL('..', import.meta.url)));
const testdata = (f: string) => join(root, 'packages/engine/src/data/validate/testdata', f);
const engineData = (f: string) => join(root, 'packages/engine/src/data/testdata', f);
const models = resolve(root, '../shared/fixtures/models');
const PG_URL = PG_TEST_URL;

let nats: LocalNatsServer;
const tmp = await mkdtemp(join(tmpdir(), 'tm-dataset-svc-'));
const dataRoot = join(tmp, 'data');
const pgUp = await pgReachable();
const pgSchema = `tm_svc_${process.pid}_${Date.now()}`;

beforeAll(async () => {
  nats = await startTestNats();
  await mkdir(dataRoot, { recursive: true });
  await copyFile(engineData('chat.jsonl'), join(dataRoot, 'chat.jsonl'));
  await copyFile(testdata('chat-problems.jsonl'), join(dataRoot, 'chat-problems.jsonl'));
  await copyFile(testdata('sentiment.csv'), join(dataRoot, 'sentiment.csv'));
  await writeFile(
    join(dataRoot, 'val.jsonl'),
    '{"messages": [{"role": "user", "content": "Held out?"}, {"role": "assistant", "content": "Yes."}]}\n{"messages": [{"role": "user", "content": "Also?"}, {"role": "assistant", "content": "Also."}]}\n',
  );
  await writeFile(join(tmp, 'secret.jsonl'), '{"text":"outside the root"}\n');
  await symlink(join(tmp, 'secret.jsonl'), join(dataRoot, 'link-out.jsonl'));
});

afterAll(async () => {
  await nats?.stop();
  await rm(tmp, { recursive: true, force: true });
  if (pgUp) await dropSchema(pgSchema);
});

function options(over: Partial<ImportOptions> = {}): ImportOptions {
  return { name: '', fileFormat: 0, format: 0, maxLength: 0, overlengthPolicy: 0, removeDuplicates: false, ...over };
}

async function* upload(
  bytes: Buffer,
  opts: ImportOptions,
  extra: { sizeBytes?: bigint; chunk?: number } = {},
): AsyncGenerator<ImportDatasetRequest> {
  yield {
    payload: {
      $case: 'header',
      value: {
        options: opts,
        fileName: 'upload.jsonl',
        sha256: '',
        validationFileName: '',
        ...(extra.sizeBytes !== undefined && { sizeBytes: extra.sizeBytes }),
      },
    },
  };
  const step = extra.chunk ?? 97;
  for (let i = 0; i < bytes.length; i += step)
    yield { payload: { $case: 'chunk', value: bytes.subarray(i, i + step) } };
}

async function grpcCode(p: Promise<unknown>): Promise<Status | undefined> {
  try {
    await p;
    return undefined;
  } catch (err) {
    if (err instanceof ClientError) return err.code;
    throw err;
  }
}

const backends = [
  { name: 'SQLite', env: { DATASET_DATABASE_URL: 'sqlite' }, skip: false },
  { name: 'PostgreSQL', env: { DATASET_DATABASE_URL: PG_URL, DATASET_DATABASE_SCHEMA: pgSchema }, skip: !pgUp },
];

for (const backend of backends) {
  describe.skipIf(backend.skip)(`dataset service on ${backend.name}`, () => {
    let svc: MeshServiceHandle;
    let client: ServiceClient<typeof DatasetServiceDefinition>;
    let close: () => void;
    const events: { subject: string; data: Uint8Array }[] = [];
    const storeDir = join(tmp, `store-${backend.name}`);

    beforeAll(async () => {
      svc = await start(
        loadDatasetConfig({
          HOST: '127.0.0.1',
          PORT: '0',
          NATS_URL: nats.url,
          LOG_LEVEL: 'silent',
          DATASET_STORE_DIR: storeDir,
          DATASET_DATA_ROOTS: dataRoot,
          DATASET_MODEL_ROOTS: models,
          DATASET_MAX_UPLOAD_BYTES: '4096',
          ...backend.env,
        }),
        { logger: silentLogger() },
      );
      const sub = svc.nats.nc.subscribe('dataset.>');
      (async () => {
        for await (const m of sub) events.push({ subject: m.subject, data: m.data });
      })();
      const ch = openChannel(svc.address);
      close = ch.close;
      client = createServiceClient(DatasetServiceDefinition, ch.channel, { component: 'test', retryMaxAttempts: 1 });
    });

    afterAll(async () => {
      close?.();
      await svc?.stop();
    });

    const chatOptions = () =>
      options({
        tokenizer: { source: { $case: 'modelPath', value: 'tiny-qwen2' } },
        split: { holdout: { $case: 'validationFraction', value: 0.2 }, seed: 42 },
      });

    it('imports by path: READY with split, token statistics, and a dataset.ready event', async () => {
      const res = await client.importDatasetFromPath({
        path: 'chat.jsonl',
        options: chatOptions(),
        validationPath: '',
      });
      const d = res.dataset;
      expect(res.alreadyExisted).toBe(false);
      expect(d?.status).toBe(DatasetStatus.READY);
      expect(d?.format).toBe(DatasetFormat.CHAT);
      expect(d?.name).toBe('chat.jsonl');
      const total = Number(d?.rows?.kept);
      expect(total).toBeGreaterThan(5);
      expect(Number(d?.rows?.validation)).toBe(Math.round(total * 0.2));
      expect(Number(d?.rows?.train) + Number(d?.rows?.validation)).toBe(total);
      const train = d?.statistics?.splits[0];
      expect(Number(train?.exampleCount)).toBe(Number(d?.rows?.train));
      expect(Number(train?.minLength)).toBeGreaterThan(0);
      expect(Number(train?.p95Length)).toBeGreaterThanOrEqual(Number(train?.p50Length));
      expect(train?.lossTokenFraction).toBeGreaterThan(0);
      expect(train?.lossTokenFraction).toBeLessThan(1);
      expect(train?.lengthHistogram?.buckets.reduce((n, b) => n + Number(b.count), 0)).toBe(
        Number(train?.exampleCount),
      );
      await expect.poll(() => events.some((e) => e.subject === SUBJECTS.datasetReady)).toBe(true);
      const ev = DatasetReady.decode(events.find((e) => e.subject === SUBJECTS.datasetReady)?.data as Uint8Array);
      expect(ev).toMatchObject({
        datasetId: d?.id,
        name: 'chat.jsonl',
        format: DatasetFormat.CHAT,
        contentSha256: d?.contentSha256,
      });
      expect(await readdir(join(storeDir, 'artefacts', d?.contentSha256 as string))).toEqual(
        ['examples.jsonl', 'source', 'split.json'].sort(),
      );
    });

    it('is idempotent: the same bytes and options, by path or by upload, return the same dataset', async () => {
      const a = await client.importDatasetFromPath({ path: 'chat.jsonl', options: chatOptions(), validationPath: '' });
      expect(a.alreadyExisted).toBe(true);
      const b = await client.importDataset(
        upload(await readFile(engineData('chat.jsonl')), chatOptions(), { chunk: 256 }),
      );
      expect(b.alreadyExisted).toBe(true);
      expect(b.dataset?.id).toBe(a.dataset?.id);
    });

    it('previews rendered text, token ids and the loss mask through the model chat template', async () => {
      const d = (await client.importDatasetFromPath({ path: 'chat.jsonl', options: chatOptions(), validationPath: '' }))
        .dataset;
      const res = await client.previewDataset({
        datasetId: d?.id as string,
        split: DatasetSplit.TRAIN,
        count: 2,
        offset: 0n,
      });
      expect(res.examples).toHaveLength(2);
      expect(Number(res.splitSize)).toBe(Number(d?.rows?.train));
      const ex = res.examples[0];
      const stored = (await readFile(engineData('chat.jsonl'), 'utf8')).split('\n');
      const first = JSON.parse(stored[Number(ex?.sourceLine) - 1] as string) as {
        messages: { role: string; content: string }[];
      };
      const reply = first.messages.find((m) => m.role === 'assistant')?.content as string;
      // The loss tokens spell the assistant reply (and the end-of-turn text the template writes after it).
      const lossText = (ex?.tokens ?? [])
        .filter((t) => t.loss)
        .map((t) => t.text)
        .join('');
      expect(lossText.startsWith(reply)).toBe(true);
      expect(ex?.renderedText).toContain(reply);
      expect(ex?.promptText.endsWith(reply)).toBe(false);
      expect(Number(ex?.lossTokenCount)).toBeGreaterThan(0);
      expect(ex?.tokens.filter((t) => !t.loss).length).toBeGreaterThan(0);
    });

    it('streams tokenised examples in a seeded order, resumable from a position', async () => {
      const d = (await client.importDatasetFromPath({ path: 'chat.jsonl', options: chatOptions(), validationPath: '' }))
        .dataset;
      const req = {
        datasetId: d?.id as string,
        split: DatasetSplit.TRAIN,
        maxLength: 0,
        shuffle: true,
        seed: 3,
        epoch: 0,
        startPosition: 0n,
        limit: 0n,
        includeText: true,
      };
      const all = [];
      for await (const m of client.streamExamples(req)) all.push(m.example);
      expect(all).toHaveLength(Number(d?.rows?.train));
      expect(all.map((e) => Number(e?.position))).toEqual(all.map((_, i) => i));
      const indices = all.map((e) => Number(e?.index));
      expect([...indices].sort((a, b) => a - b)).not.toEqual(indices); // shuffled
      const again = [];
      for await (const m of client.streamExamples(req)) again.push(Number(m.example?.index));
      expect(again).toEqual(indices); // same seed, same order
      const resumed = [];
      for await (const m of client.streamExamples({ ...req, startPosition: 3n, limit: 2n })) resumed.push(m.example);
      expect(resumed.map((e) => Number(e?.index))).toEqual(indices.slice(3, 5));
      expect(resumed[0]?.inputIds).toEqual(all[3]?.inputIds);
      const epoch1 = [];
      for await (const m of client.streamExamples({ ...req, epoch: 1 })) epoch1.push(Number(m.example?.index));
      expect(epoch1).not.toEqual(indices);
      expect(all[0]?.labels.length).toBe(all[0]?.inputIds.length);
      expect(all[0]?.referenceText.length).toBeGreaterThan(0);
    });

    it('streams padded batches, resumable from a batch index', async () => {
      const d = (await client.importDatasetFromPath({ path: 'chat.jsonl', options: chatOptions(), validationPath: '' }))
        .dataset;
      const req = {
        datasetId: d?.id as string,
        split: DatasetSplit.TRAIN,
        maxLength: 0,
        batchSize: 3,
        shuffle: true,
        seed: 1,
        epoch: 0,
        startBatch: 0n,
        limit: 0n,
        dropLast: false,
        padding: 0,
      };
      const batches = [];
      for await (const m of client.streamBatches(req)) batches.push(m);
      const train = Number(d?.rows?.train);
      expect(batches).toHaveLength(Math.ceil(train / 3));
      expect(Number(batches[0]?.batchesPerEpoch)).toBe(batches.length);
      const b = batches[0]?.batch;
      expect(b?.inputIds).toHaveLength((b?.rows ?? 0) * (b?.seqLen ?? 0));
      expect(b?.attentionMask).toHaveLength(b?.inputIds.length ?? -1);
      expect(Number(b?.tokenCount)).toBe([...(b?.attentionMask ?? [])].filter((x) => x === 1).length);
      expect(b?.labels.filter((l, k) => b.attentionMask[k] === 0 && l !== -100)).toEqual([]);
      const resumed = [];
      for await (const m of client.streamBatches({ ...req, startBatch: 1n, limit: 1n })) resumed.push(m.batch);
      expect(resumed).toHaveLength(1);
      expect(resumed[0]?.inputIds).toEqual(batches[1]?.batch?.inputIds);
      expect(
        await grpcCode(
          (async () => {
            for await (const _ of client.streamBatches({ ...req, batchSize: 0 })) {
              /* none */
            }
          })(),
        ),
      ).toBe(Status.INVALID_ARGUMENT);
    });

    it('the split is stable across re-imports and changes with the seed', async () => {
      const first = await client.importDatasetFromPath({
        path: 'chat.jsonl',
        options: chatOptions(),
        validationPath: '',
      });
      const sha = first.dataset?.contentSha256 as string;
      const split1 = await readFile(join(storeDir, 'artefacts', sha, 'split.json'), 'utf8');
      await client.deleteDataset({ id: first.dataset?.id as string });
      const again = await client.importDatasetFromPath({
        path: 'chat.jsonl',
        options: chatOptions(),
        validationPath: '',
      });
      expect(again.alreadyExisted).toBe(false);
      expect(again.dataset?.contentSha256).toBe(sha);
      expect(await readFile(join(storeDir, 'artefacts', sha, 'split.json'), 'utf8')).toBe(split1);
      const seeded = chatOptions();
      seeded.split = { holdout: { $case: 'validationFraction', value: 0.2 }, seed: 7 };
      const other = await client.importDatasetFromPath({ path: 'chat.jsonl', options: seeded, validationPath: '' });
      expect(other.dataset?.contentSha256).not.toBe(sha);
      expect(
        await readFile(join(storeDir, 'artefacts', other.dataset?.contentSha256 as string, 'split.json'), 'utf8'),
      ).not.toBe(split1);
    });

    it('a file with errors is FAILED with its report, and dataset.failed carries the first findings', async () => {
      const res = await client.importDatasetFromPath({
        path: 'chat-problems.jsonl',
        options: options(),
        validationPath: '',
      });
      const d = res.dataset;
      expect(d?.status).toBe(DatasetStatus.FAILED);
      expect(Number(d?.validationReport?.errorCount)).toBe(6);
      expect(d?.validationReport?.findings[0]).toMatchObject({
        line: 2n,
        field: 'messages[1].role',
        kind: FindingKind.UNKNOWN_ROLE,
      });
      await expect.poll(() => events.some((e) => e.subject === SUBJECTS.datasetFailed)).toBe(true);
      const ev = DatasetFailed.decode(events.find((e) => e.subject === SUBJECTS.datasetFailed)?.data as Uint8Array);
      expect(ev.datasetId).toBe(d?.id);
      expect(ev.errorCount).toBe(6n);
      expect(ev.firstFindings).toHaveLength(6);
    });

    it('imports CSV classification data with a column mapping (label balance)', async () => {
      const res = await client.importDatasetFromPath({
        path: 'sentiment.csv',
        options: options({
          columnMapping: {
            instruction: '',
            input: '',
            output: '',
            system: '',
            messages: '',
            role: '',
            content: '',
            weight: '',
            text: 'review',
            label: 'sentiment',
            inputIds: '',
            labels: '',
          },
          template: {
            promptTemplate: 'Review: {text}\nSentiment:',
            labelWords: { '0': ' negative', '1': ' positive' },
            chatTemplate: '',
            defaultSystemPrompt: '',
            trainOnPrompt: false,
          },
        }),
        validationPath: '',
      });
      expect(res.dataset?.status).toBe(DatasetStatus.READY);
      expect(res.dataset?.format).toBe(DatasetFormat.CLASSIFICATION);
      expect(res.dataset?.statistics?.splits[0]?.labelCounts).toEqual({ '0': 1n, '1': 1n });
    });

    it('a separate validation file replaces the seeded split (by path and by upload)', async () => {
      const res = await client.importDatasetFromPath({
        path: 'chat.jsonl',
        options: options(),
        validationPath: 'val.jsonl',
      });
      expect(res.dataset?.status).toBe(DatasetStatus.READY);
      expect(res.dataset?.split?.source).toBe(SplitInfo_Source.FILE);
      expect(res.dataset?.rows?.validation).toBe(2n);
      expect(res.dataset?.rows?.train).toBe(res.dataset?.rows?.kept ? res.dataset.rows.kept - 2n : -1n);
      async function* withValidation(): AsyncGenerator<ImportDatasetRequest> {
        yield {
          payload: {
            $case: 'header',
            value: { options: options(), fileName: 'main.jsonl', sha256: '', validationFileName: 'val.jsonl' },
          },
        };
        yield { payload: { $case: 'chunk', value: Buffer.from('{"text": "main one"}\n{"text": "main two"}\n') } };
        yield { payload: { $case: 'validationChunk', value: Buffer.from('{"text": "held out"}\n{"text": 5}\n') } };
      }
      const up = await client.importDataset(withValidation());
      // The validation file's error is reported as such, and fails the dataset.
      expect(up.dataset?.status).toBe(DatasetStatus.FAILED);
      expect(up.dataset?.validationReport?.findings).toEqual([
        expect.objectContaining({ line: 2n, kind: FindingKind.WRONG_TYPE, inValidationFile: true }),
      ]);
    });

    it('checks a declared SHA-256, and streams only READY datasets', async () => {
      async function* wrongSum(): AsyncGenerator<ImportDatasetRequest> {
        yield {
          payload: {
            $case: 'header',
            value: { options: options(), fileName: 'x.jsonl', sha256: '0'.repeat(64), validationFileName: '' },
          },
        };
        yield { payload: { $case: 'chunk', value: Buffer.from('{"text": "x"}\n') } };
      }
      expect(await grpcCode(client.importDataset(wrongSum()))).toBe(Status.INVALID_ARGUMENT);
      const failed = await client.importDatasetFromPath({
        path: 'chat-problems.jsonl',
        options: options(),
        validationPath: '',
      });
      const req = {
        datasetId: failed.dataset?.id as string,
        split: 0,
        maxLength: 0,
        shuffle: false,
        epoch: 0,
        startPosition: 0n,
        limit: 0n,
        includeText: false,
        tokenizer: { source: { $case: 'modelPath' as const, value: 'tiny-qwen2' } },
      };
      const drain = async () => {
        for await (const _ of client.streamExamples(req)) {
          // nothing expected
        }
      };
      expect(await grpcCode(drain())).toBe(Status.FAILED_PRECONDITION);
      // A FAILED dataset can still be previewed, to see what went wrong.
      const p = await client.previewDataset({
        datasetId: failed.dataset?.id as string,
        split: 0,
        count: 1,
        offset: 0n,
        tokenizer: req.tokenizer,
      });
      expect(p.examples).toHaveLength(1);
    });

    it('refuses paths out of the data roots, through .. or a symbolic link', async () => {
      expect(
        await grpcCode(
          client.importDatasetFromPath({ path: '../secret.jsonl', options: options(), validationPath: '' }),
        ),
      ).toBe(Status.PERMISSION_DENIED);
      expect(
        await grpcCode(
          client.importDatasetFromPath({ path: join(tmp, 'secret.jsonl'), options: options(), validationPath: '' }),
        ),
      ).toBe(Status.PERMISSION_DENIED);
      expect(
        await grpcCode(
          client.importDatasetFromPath({ path: 'link-out.jsonl', options: options(), validationPath: '' }),
        ),
      ).toBe(Status.PERMISSION_DENIED);
      expect(
        await grpcCode(client.importDatasetFromPath({ path: 'missing.jsonl', options: options(), validationPath: '' })),
      ).toBe(Status.NOT_FOUND);
      const tok = options({ tokenizer: { source: { $case: 'modelPath', value: '../../..' } } });
      expect(
        await grpcCode(client.importDatasetFromPath({ path: 'chat.jsonl', options: tok, validationPath: '' })),
      ).toBe(Status.PERMISSION_DENIED);
    });

    it('imports an upload; refuses an oversized one early and keeps nothing of it', async () => {
      const small = Buffer.from('{"text": "uploaded one"}\n{"text": "uploaded two"}\n');
      const ok = await client.importDataset(upload(small, options()));
      expect(ok.dataset?.status).toBe(DatasetStatus.READY);
      expect(ok.dataset?.rows?.kept).toBe(2n);
      const before = (await client.listDatasets({ statuses: [], format: 0, ids: [] })).page?.totalSize;
      let sent = 0;
      async function* declaredTooBig(): AsyncGenerator<ImportDatasetRequest> {
        yield* upload(Buffer.alloc(0), options(), { sizeBytes: 1_000_000n });
        // The server must answer before reading this far.
        for (;;) {
          sent++;
          yield { payload: { $case: 'chunk', value: Buffer.alloc(1024, 0x20) } };
          if (sent > 10_000) return;
        }
      }
      expect(await grpcCode(client.importDataset(declaredTooBig()))).toBe(Status.RESOURCE_EXHAUSTED);
      // The refusal comes on the header: the client stops once gRPC's flow-control window (about 1 MiB) is full,
      // far from the 10 MiB it would send.
      expect(sent).toBeLessThan(3000);
      const big = Buffer.from(`${'{"text": "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}\n'.repeat(200)}`);
      expect(await grpcCode(client.importDataset(upload(big, options())))).toBe(Status.RESOURCE_EXHAUSTED);
      expect((await client.listDatasets({ statuses: [], format: 0, ids: [] })).page?.totalSize).toBe(before);
      expect(await readdir(join(storeDir, 'artefacts', '.staging'))).toEqual([]);
    });

    it('an interrupted upload leaves no dataset and no staged bytes', async () => {
      const before = (await client.listDatasets({ statuses: [], format: 0, ids: [] })).page?.totalSize;
      const ac = new AbortController();
      async function* cut(): AsyncGenerator<ImportDatasetRequest> {
        yield* upload(Buffer.from('{"text": "first half"}\n'), options());
        await new Promise((r) => setTimeout(r, 100));
        ac.abort();
        await new Promise((r) => setTimeout(r, 1000));
      }
      expect(
        await grpcCode(
          client
            .importDataset(cut(), { signal: ac.signal })
            .catch((e) =>
              Promise.reject(e instanceof ClientError ? e : new ClientError('/', Status.CANCELLED, 'aborted')),
            ),
        ),
      ).toBe(Status.CANCELLED);
      await expect.poll(async () => readdir(join(storeDir, 'artefacts', '.staging'))).toEqual([]);
      expect((await client.listDatasets({ statuses: [], format: 0, ids: [] })).page?.totalSize).toBe(before);
    });

    it('gets, lists newest first with paging and filters, and deletes data and record', async () => {
      const all = await client.listDatasets({ statuses: [], format: 0, ids: [] });
      const n = Number(all.page?.totalSize);
      expect(n).toBeGreaterThanOrEqual(4);
      const p1 = await client.listDatasets({ page: { pageSize: 2, pageToken: '' }, statuses: [], format: 0, ids: [] });
      const p2 = await client.listDatasets({
        page: { pageSize: 2, pageToken: p1.page?.nextPageToken ?? '' },
        statuses: [],
        format: 0,
        ids: [],
      });
      expect([...p1.datasets, ...p2.datasets].map((d) => d.id)).toEqual(all.datasets.slice(0, 4).map((d) => d.id));
      expect(
        await grpcCode(
          client.listDatasets({
            page: { pageSize: 2, pageToken: p1.page?.nextPageToken ?? '' },
            statuses: [DatasetStatus.READY],
            format: 0,
            ids: [],
          }),
        ),
      ).toBe(Status.INVALID_ARGUMENT);
      const failed = await client.listDatasets({ statuses: [DatasetStatus.FAILED], format: 0, ids: [] });
      expect(failed.datasets.every((d) => d.status === DatasetStatus.FAILED)).toBe(true);
      const target = all.datasets[0];
      expect((await client.getDataset({ id: target?.id as string })).dataset?.id).toBe(target?.id);
      const del = await client.deleteDataset({ id: target?.id as string });
      expect(Number(del.freedBytes)).toBeGreaterThan(0);
      await expect(readdir(join(storeDir, 'artefacts', target?.contentSha256 as string))).rejects.toThrow(/ENOENT/);
      expect(await grpcCode(client.getDataset({ id: target?.id as string }))).toBe(Status.NOT_FOUND);
      expect(await grpcCode(client.deleteDataset({ id: target?.id as string }))).toBe(Status.NOT_FOUND);
    });
  });
}

describe('a crash mid-import', () => {
  it('leaves the dataset FAILED (re-importable) and no staged bytes after the restart, never READY', async () => {
    const storeDir = join(tmp, 'store-crash');
    const env = {
      HOST: '127.0.0.1',
      PORT: '0',
      NATS_URL: nats.url,
      LOG_LEVEL: 'silent',
      DATASET_STORE_DIR: storeDir,
      DATASET_DATA_ROOTS: dataRoot,
    };
    // What a process killed mid-import leaves: a VALIDATING record and a half-written staging folder.
    const first = await start(loadDatasetConfig(env), { logger: silentLogger() });
    await first.stop();
    const db = await openDatabase({ kind: 'sqlite', path: join(storeDir, 'datasets.sqlite') });
    const records = new DatasetRecords(db);
    const staged = await new ArtefactStore(join(storeDir, 'artefacts')).stage();
    await writeFile(join(staged, 'source'), '{"text": "half');
    const sha = contentHash('f'.repeat(64), undefined, {
      template: {},
      split: { kind: 'none' },
      seed: 42,
      overlength: 'truncate',
      removeDuplicates: false,
    });
    await records.insert({
      id: 'ds_crashed',
      name: 'crashed.jsonl',
      status: 'VALIDATING',
      format: undefined,
      fileFormat: 'jsonl',
      contentSha256: sha,
      sourceSizeBytes: 14,
      options: {},
      rows: { total: 0, kept: 0, train: 0, validation: 0, duplicates: 0, truncated: 0, dropped: 0 },
      split: { source: 'NONE', fraction: 0, count: 0, seed: 42 },
      statistics: { tokenizer: '', splits: [] },
      report: { findings: [], totals: [], errorCount: 0, warningCount: 0, findingsTruncated: false },
      error: undefined,
      createdAt: new Date(),
      completedAt: undefined,
    });
    await db.destroy();

    const svc = await start(loadDatasetConfig(env), { logger: silentLogger() });
    const channel = openChannel(svc.address);
    try {
      const client = createServiceClient(DatasetServiceDefinition, channel.channel, {
        component: 'test',
        retryMaxAttempts: 1,
      });
      const d = (await client.getDataset({ id: 'ds_crashed' })).dataset;
      expect(d?.status).toBe(DatasetStatus.FAILED);
      expect(d?.error?.type).toBe('ImportInterrupted');
      expect(await readdir(join(storeDir, 'artefacts', '.staging'))).toEqual([]);
      // Importing again works and is a new dataset.
      const again = await client.importDatasetFromPath({ path: 'chat.jsonl', options: options(), validationPath: '' });
      expect(again.dataset?.status).toBe(DatasetStatus.READY);
    } finally {
      channel.close();
      await svc.stop();
    }
  });
});
