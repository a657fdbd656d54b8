// The datasets table through one query layer on SQLite and (where a server is reachable) PostgreSQL, and the
// artefact store's staging and removal.

import { randomUUID } from 'node:crypto';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Kysely } from 'kysely';
import { afterAll, describe, expect, it } from 'vitest';
import { ArtefactStore } from './artefacts.js';
import { type DatabaseConfig, type DatasetDb, openDatabase } from './db.js';
import { dropSchema, PG_TEST_URL, pgReachable } from './pg-test.js';
import { type DatasetRecord, DatasetRecords } from './records.js';

const PG_URL = PG_TEST_URL;

const tmp = await mkdtemp(join(tmpdir(), 'tm-dataset-store-'));
const pgUp = await pgReachable();
const pgSchema = `tm_test_${process.pid}_${Date.now()}`;
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
  if (pgUp) await dropSchema(pgSchema);
});

function record(over: Partial<DatasetRecord> = {}): DatasetRecord {
  return {
    id: `ds_${randomUUID()}`,
    name: 'chat.jsonl',
    status: 'VALIDATING',
    format: 'chat',
    fileFormat: 'jsonl',
    contentSha256: 'a'.repeat(64),
    sourceSizeBytes: 2 ** 40 + 7,
    options: { removeDuplicates: true },
    rows: { total: 3, kept: 3, train: 2, validation: 1, duplicates: 0, truncated: 0, dropped: 0 },
    split: { source: 'FRACTION', fraction: 0.1, count: 0, seed: 42 },
    statistics: { tokenizer: '', splits: [] },
    report: { findings: [], totals: [], errorCount: 0, warningCount: 0, findingsTruncated: false },
    error: undefined,
    createdAt: new Date('2026-01-02T03:04:05.000Z'),
    completedAt: undefined,
    ...over,
  };
}

const backends: { name: string; config: () => DatabaseConfig; skip: boolean }[] = [
  { name: 'SQLite', config: () => ({ kind: 'sqlite', path: join(tmp, 'datasets.db') }), skip: false },
  { name: 'PostgreSQL', config: () => ({ kind: 'postgres', url: PG_URL, schema: pgSchema }), skip: !pgUp },
];

for (const backend of backends) {
  describe.skipIf(backend.skip)(`dataset records on ${backend.name}`, () => {
    let db: Kysely<DatasetDb>;
    let records: DatasetRecords;

    it('migrates on open, twice without harm', async () => {
      (await openDatabase(backend.config())).destroy();
      db = await openDatabase(backend.config());
      records = new DatasetRecords(db);
    });

    it('round-trips a record exactly, 64-bit sizes included', async () => {
      const r = record();
      await records.insert(r);
      expect(await records.get(r.id)).toEqual(r);
      const done = { ...r, status: 'READY' as const, completedAt: new Date('2026-01-02T03:05:00.000Z') };
      await records.update(done);
      expect(await records.get(r.id)).toEqual(done);
      expect(await records.findByContent(r.contentSha256)).toEqual(done);
      expect(await records.get('ds_missing')).toBeUndefined();
    });

    it('lists newest first with filters and offset paging; deletes', async () => {
      const a = record({ status: 'FAILED', format: 'text', contentSha256: 'b'.repeat(64) });
      const b = record({ status: 'READY', contentSha256: 'c'.repeat(64) });
      await records.insert(a);
      await records.insert(b);
      const all = await records.list({}, 0, 2);
      expect(all.total).toBe(3);
      expect(all.records.map((r) => r.id)).toEqual([b.id, a.id]);
      const next = await records.list({}, 2, 2);
      expect(next.records).toHaveLength(1);
      expect((await records.list({ statuses: ['FAILED'] }, 0, 10)).records.map((r) => r.id)).toEqual([a.id]);
      expect((await records.list({ format: 'text' }, 0, 10)).records.map((r) => r.id)).toEqual([a.id]);
      expect((await records.list({ ids: [b.id, 'ds_unknown'] }, 0, 10)).records.map((r) => r.id)).toEqual([b.id]);
      expect(await records.delete(a.id)).toBe(true);
      expect(await records.delete(a.id)).toBe(false);
    });

    it('marks imports interrupted by a stop as FAILED, and they are not returned as existing content', async () => {
      const r = record({ contentSha256: 'd'.repeat(64) });
      await records.insert(r);
      expect(await records.failInterrupted(new Date())).toBe(1);
      const after = await records.get(r.id);
      expect(after?.status).toBe('FAILED');
      expect(after?.error?.type).toBe('ImportInterrupted');
      expect(await records.findByContent(r.contentSha256)).toBeUndefined();
      await db.destroy();
    });
  });
}

describe('artefact store', () => {
  it('commits a staging folder under the hash, clears stale staging on init, and removes with freed bytes', async () => {
    const store = new ArtefactStore(join(tmp, 'artefacts'));
    await store.init();
    const stale = await store.stage();
    await writeFile(join(stale, 'partial'), 'x');
    await store.init();
    expect(await readdir(join(tmp, 'artefacts', '.staging'))).toEqual([]);
    const dir = await store.stage();
    await writeFile(join(dir, 'source'), 'hello');
    const sha = 'e'.repeat(64);
    await store.commit(dir, sha);
    expect(await readdir(store.dir(sha))).toEqual(['source']);
    expect(await store.remove(sha)).toBe(5);
    expect(await store.remove(sha)).toBe(0);
    expect(() => store.dir('../etc')).toThrow(/not a sha256/);
  });
});
