// The evaluator's tables on SQLite and on PostgreSQL (where the test server answers; reported skipped
// elsewhere): evaluations round-trip whole, filters, newest-first paging, the leaderboard query, artefacts.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type Artifact,
  ArtifactKind,
  DatasetSplit,
  Dtype,
  type Evaluation,
  EvaluationStatus,
  EvaluationTrigger,
  MethodKind,
  Metric,
} from '../proto/src/index.js';
import { dropSchema, PG_TEST_URL, pgReachable } from '../services/dataset/src/store/pg-test.js';
import { ArtifactRecords } from '../services/evaluator/src/store/artifacts.js';
import { openEvaluatorDb } from '../services/evaluator/src/store/db.js';
import { EvaluationRecords } from '../services/evaluator/src/store/evaluations.js';

const tmp = await mkdtemp(join(tmpdir(), 'tm-evaluator-store-'));
const pgUp = await pgReachable();
const schema = `tm_eval_${process.pid}_${Date.now()}`;
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
  if (pgUp) await dropSchema(schema);
});

function evaluation(id: string, over: Partial<Evaluation> = {}): Evaluation {
  return {
    id,
    status: EvaluationStatus.QUEUED,
    trigger: EvaluationTrigger.MANUAL,
    model: { target: { $case: 'jobId', value: `job-${id}` } },
    baseModelId: 'tiny',
    jobId: `job-${id}`,
    isBaseline: false,
    method: MethodKind.LORA,
    datasetId: 'ds1',
    split: DatasetSplit.VALIDATION,
    metrics: [Metric.LOSS],
    maxExamples: 0n,
    results: [],
    labelScores: [],
    samples: [],
    createdAt: new Date('2026-01-01T00:00:00Z'),
    ...over,
  };
}

for (const backend of [
  { name: 'SQLite', skip: false },
  { name: 'PostgreSQL', skip: !pgUp },
]) {
  describe.skipIf(backend.skip)(`evaluator tables on ${backend.name}`, () => {
    let db: Awaited<ReturnType<typeof openEvaluatorDb>>;
    beforeAll(async () => {
      db = await openEvaluatorDb(
        backend.name === 'SQLite'
          ? { kind: 'sqlite', path: join(tmp, 'e.sqlite') }
          : { kind: 'postgres', url: PG_TEST_URL, schema },
      );
    });
    afterAll(() => db?.destroy());

    it('stores evaluations whole, filters them and pages newest first', async () => {
      const r = new EvaluationRecords(db);
      await r.insert(evaluation('a'), 'key-a');
      await r.insert(evaluation('b', { isBaseline: true, jobId: '', datasetId: 'ds2' }), null);
      await r.insert(evaluation('c'), null);
      const done = evaluation('c', {
        status: EvaluationStatus.SUCCEEDED,
        results: [{ metric: Metric.LOSS, value: 1.25, exampleCount: 4n, higherIsBetter: false }],
        confusionMatrix: { labels: ['x', 'y'], counts: [1n, 0n, 2n, 3n] },
        finishedAt: new Date('2026-01-01T00:01:00Z'),
      });
      await r.update(done);
      expect(await r.get('c')).toEqual(done);
      expect((await r.byIdempotencyKey('key-a'))?.id).toBe('a');
      const page1 = await r.list({ limit: 2 });
      expect(page1.map((x) => x.evaluation.id)).toEqual(['c', 'b']);
      const page2 = await r.list({ limit: 2, beforeSeq: page1[1]?.seq as number });
      expect(page2.map((x) => x.evaluation.id)).toEqual(['a']);
      expect((await r.list({ limit: 10, datasetId: 'ds2' })).map((x) => x.evaluation.id)).toEqual(['b']);
      expect((await r.list({ limit: 10, jobIds: ['job-a', 'job-c'] })).map((x) => x.evaluation.id)).toEqual(['c', 'a']);
      expect((await r.list({ limit: 10, statuses: [EvaluationStatus.SUCCEEDED] })).map((x) => x.evaluation.id)).toEqual(
        ['c'],
      );
      expect((await r.succeededOn('ds1', DatasetSplit.VALIDATION)).map((e) => e.id)).toEqual(['c']);
    });

    it('stores artefacts and lists them by kind', async () => {
      const r = new ArtifactRecords(db);
      const a: Artifact = {
        id: 'ar1',
        name: 'm',
        kind: ArtifactKind.MERGED_MODEL,
        baseModelId: 'tiny',
        sources: [],
        method: MethodKind.LORA,
        dtype: Dtype.BF16,
        location: { path: '/x', sizeBytes: 10n, sha256: 'ab' },
        createdAt: new Date('2026-01-01T00:00:00Z'),
      };
      await r.insert(a);
      await r.insert({ ...a, id: 'ar2', kind: ArtifactKind.ADAPTER });
      expect(await r.get('ar1')).toEqual(a);
      expect((await r.list({ limit: 10, kind: ArtifactKind.ADAPTER })).map((x) => x.artifact.id)).toEqual(['ar2']);
      expect((await r.list({ limit: 10 })).map((x) => x.artifact.id)).toEqual(['ar2', 'ar1']);
    });
  });
}
