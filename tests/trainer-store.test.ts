// The trainer's tables on SQLite and on PostgreSQL (where the test server at TUNEMESH_TEST_PG_URL answers; the
// PostgreSQL half reports itself skipped elsewhere): concurrent creates with one idempotency key make one job,
// concurrent creates get distinct seqs and page newest first, concurrent read-modify-writes of one job lose
// nothing (row locks on PostgreSQL), checkpoint records are pruned by save_total_limit and is_best is derived.
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTinyModel } from '../packages/engine/src/index.js';
import { createServiceClient, openChannel, type ServiceClient, silentLogger } from '../packages/kit/src/index.js';
import { startTestNats } from '../packages/kit/src/testing/index.js';
import {
  type Checkpoint,
  type FineTuneJob,
  JobStatus,
  MethodKind,
  TrainerServiceDefinition,
} from '../proto/src/index.js';
import { dropSchema, PG_TEST_URL, pgReachable } from '../services/dataset/src/store/pg-test.js';
import { loadTrainerConfig, start } from '../services/trainer/src/index.js';
import { openTrainerDb } from '../services/trainer/src/store/db.js';
import { JobRecords } from '../services/trainer/src/store/jobs.js';

const tmp = await mkdtemp(join(tmpdir(), 'tm-trainer-store-'));
const pgUp = await pgReachable();
if (!pgUp) console.warn(`trainer store: no PostgreSQL at ${PG_TEST_URL}; its tests are skipped`);
const schema = `tm_trainer_${process.pid}_${Date.now()}`;
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
  if (pgUp) await dropSchema(schema);
});

function job(id: string, key: string): FineTuneJob {
  const now = new Date('2026-01-01T00:00:00Z');
  return {
    id,
    name: id,
    idempotencyKey: key,
    status: JobStatus.QUEUED,
    baseModelId: 'bm-1',
    datasetId: 'ds-1',
    method: undefined,
    hyperparameters: undefined,
    evaluationMetrics: [],
    failure: undefined,
    trainableParams: 0n,
    totalParams: 0n,
    progress: { step: 0n, totalSteps: 0n, epoch: 0, tokensSeen: 0n, lastSequence: 0n },
    latestCheckpointId: '',
    nodeId: '',
    attempt: 0,
    cancelRequested: false,
    labels: {},
    createdAt: now,
    updatedAt: now,
  };
}

const checkpoint = (jobId: string, step: number, validationLoss?: number): Checkpoint => ({
  id: `${jobId}-ckpt-${step}`,
  jobId,
  step: BigInt(step),
  epoch: 0,
  ...(validationLoss !== undefined && { validationLoss }),
  artifact: undefined,
  isBest: false,
  sequence: BigInt(step),
  createdAt: new Date('2026-01-01T00:00:00Z'),
});

for (const backend of [
  { name: 'SQLite', skip: false },
  { name: 'PostgreSQL', skip: !pgUp },
]) {
  describe.skipIf(backend.skip)(`trainer tables on ${backend.name}`, () => {
    let db: Awaited<ReturnType<typeof openTrainerDb>>;
    let jobs: JobRecords;
    beforeAll(async () => {
      const pg = backend.name === 'PostgreSQL';
      db = await openTrainerDb(
        pg ? { kind: 'postgres', url: PG_TEST_URL, schema } : { kind: 'sqlite', path: join(tmp, 't.sqlite') },
      );
      jobs = new JobRecords(db, pg);
    });
    afterAll(() => db?.destroy());

    it('one idempotency key makes one job under concurrent creates; distinct keys get distinct seqs', async () => {
      const same = await Promise.all(
        Array.from({ length: 8 }, (_, i) => jobs.insert(job(`job-same-${i}`, 'k-same'), 'h', MethodKind.LORA)),
      );
      expect(same.filter((r) => r.inserted)).toHaveLength(1);
      expect(new Set(same.map((r) => r.job.id)).size).toBe(1);
      const many = await Promise.all(
        Array.from({ length: 8 }, (_, i) => jobs.insert(job(`job-${i}`, `k-${i}`), 'h', MethodKind.LORA)),
      );
      expect(many.every((r) => r.inserted)).toBe(true);
      const all = await jobs.list({ statuses: [], baseModelId: '', datasetId: '', method: 0, ids: [] }, undefined, 50);
      const seqs = all.map((r) => r.seq);
      expect(new Set(seqs).size).toBe(9);
      expect([...seqs].sort((a, b) => b - a)).toEqual(seqs);
    });

    it('concurrent read-modify-writes of one job lose no update', async () => {
      await jobs.insert(job('job-counter', 'k-counter'), 'h', MethodKind.LORA);
      await Promise.all(
        Array.from({ length: 20 }, () => jobs.update('job-counter', (j) => ({ ...j, attempt: j.attempt + 1 }))),
      );
      expect((await jobs.get('job-counter'))?.attempt).toBe(20);
    });

    it('prunes checkpoint records by save_total_limit (newest and best) and marks the best', async () => {
      const losses = [2.0, 1.2, 1.5, 1.2, 1.9, 1.8];
      for (const [i, v] of losses.entries()) {
        await jobs.putCheckpoint(checkpoint('job-ck', i + 1, v));
        await jobs.pruneCheckpoints('job-ck', 2);
      }
      const listed = await jobs.checkpoints('job-ck', 0, 10);
      expect(listed.map((c) => Number(c.step))).toEqual([6, 5, 2]);
      expect(listed.map((c) => c.isBest)).toEqual([false, false, true]);
      expect((await jobs.checkpoints('job-ck', 1, 1)).map((c) => [Number(c.step), c.isBest])).toEqual([[5, false]]);
      // No evaluations: none is best.
      await jobs.putCheckpoint(checkpoint('job-plain', 1));
      expect((await jobs.checkpoints('job-plain', 0, 10)).map((c) => c.isBest)).toEqual([false]);
    });
  });
}

describe('trainer database settings', () => {
  it('takes a postgres:// URL and a schema, defaults to SQLite, and names a bad setting', async () => {
    expect(loadTrainerConfig({}).databaseUrl).toBe('sqlite');
    const pg = loadTrainerConfig({ TRAINER_DATABASE_URL: 'postgres://u@h:5432/db', TRAINER_DATABASE_SCHEMA: 'tm' });
    expect(pg).toMatchObject({ databaseUrl: 'postgres://u@h:5432/db', databaseSchema: 'tm' });
    expect(() => loadTrainerConfig({ TRAINER_DATABASE_URL: 'mysql://h/db' })).toThrow(/TRAINER_DATABASE_URL/);
    expect(() => loadTrainerConfig({ TRAINER_DATABASE_SCHEMA: 'Bad-Name' })).toThrow(/TRAINER_DATABASE_SCHEMA/);
  });
});

describe.skipIf(!pgUp)('trainer service on PostgreSQL', () => {
  it('keeps its records in PostgreSQL across a restart (TRAINER_DATABASE_URL, TRAINER_DATABASE_SCHEMA)', async () => {
    const nats = await startTestNats();
    const models = join(tmp, 'models');
    await makeTinyModel({ arch: 'qwen2', out: join(models, 'tiny'), seed: 1 });
    const config = loadTrainerConfig({
      HOST: '127.0.0.1',
      PORT: '0',
      NATS_URL: nats.url,
      LOG_LEVEL: 'silent',
      TRAINER_STORE_DIR: join(tmp, 'svc'),
      TRAINER_MODEL_ROOTS: models,
      TRAINER_DATABASE_URL: PG_TEST_URL,
      TRAINER_DATABASE_SCHEMA: `${schema}_svc`,
    });
    const withService = async <T>(f: (c: ServiceClient<typeof TrainerServiceDefinition>) => Promise<T>) => {
      const svc = await start(config, { logger: silentLogger() });
      const ch = openChannel(svc.address);
      try {
        return await f(createServiceClient(TrainerServiceDefinition, ch.channel, { component: 'test' }));
      } finally {
        ch.close();
        await svc.stop();
      }
    };
    try {
      const id = await withService(async (c) => {
        const r = await c.registerBaseModel({ name: '', path: join(models, 'tiny') });
        return r.baseModel?.id as string;
      });
      await withService(async (c) => {
        expect((await c.getBaseModel({ id })).baseModel?.name).toBe('tiny');
        expect((await c.registerBaseModel({ name: '', path: join(models, 'tiny') })).alreadyExisted).toBe(true);
      });
      // Nothing went to a SQLite file.
      expect((await readdir(join(tmp, 'svc'))).filter((f) => f.endsWith('.sqlite'))).toEqual([]);
    } finally {
      await nats.stop();
      await dropSchema(`${schema}_svc`);
    }
  }, 60_000);
});
