// Job and checkpoint records. The FineTuneJob message is the record (JSON column); status, model, dataset and
// method are columns too so List filters in SQL. Written for SQLite and PostgreSQL alike.

import {
  type Checkpoint,
  Checkpoint as CheckpointCodec,
  FineTuneJob,
  type JobStatus,
  type MethodKind,
} from '@tunemesh/proto';
import type { Kysely } from 'kysely';
import { bestStep, retainedSteps } from '../jobs/retention.js';
import { retryUniqueRace, type TrainerDb } from './db.js';

export interface JobFilter {
  statuses: readonly JobStatus[];
  baseModelId: string;
  datasetId: string;
  method: MethodKind;
  ids: readonly string[];
}

const parseJob = (json: string): FineTuneJob => FineTuneJob.fromJSON(JSON.parse(json));

export class JobRecords {
  /**
   * `lockRows`: take a row lock in update's read-modify-write (PostgreSQL, where two writers' transactions
   * interleave); SQLite serialises writers already and has no FOR UPDATE.
   */
  constructor(
    private readonly db: Kysely<TrainerDb>,
    private readonly lockRows = false,
  ) {}

  /** Inserts a job unless its idempotency key is taken; returns the stored job and its request hash. */
  async insert(
    job: FineTuneJob,
    requestHash: string,
    methodKind: MethodKind,
  ): Promise<{ job: FineTuneJob; requestHash: string; inserted: boolean }> {
    // A retried create racing itself, or two creates racing for the next seq, meet a unique index; the retry
    // then finds the winner's row by the key (or takes the next seq).
    return retryUniqueRace(() => this.insertOnce(job, requestHash, methodKind));
  }

  private insertOnce(
    job: FineTuneJob,
    requestHash: string,
    methodKind: MethodKind,
  ): Promise<{ job: FineTuneJob; requestHash: string; inserted: boolean }> {
    return this.db.transaction().execute(async (tx) => {
      const known = await tx
        .selectFrom('jobs')
        .select(['json', 'request_hash'])
        .where('idempotency_key', '=', job.idempotencyKey)
        .executeTakeFirst();
      if (known !== undefined) return { job: parseJob(known.json), requestHash: known.request_hash, inserted: false };
      const next = await tx
        .selectFrom('jobs')
        .select((eb) => eb.fn.coalesce(eb.fn.max('seq'), eb.lit(0)).as('m'))
        .executeTakeFirstOrThrow();
      await tx
        .insertInto('jobs')
        .values({
          id: job.id,
          seq: Number(next.m) + 1,
          idempotency_key: job.idempotencyKey,
          request_hash: requestHash,
          status: job.status,
          base_model_id: job.baseModelId,
          dataset_id: job.datasetId,
          method_kind: methodKind,
          json: JSON.stringify(FineTuneJob.toJSON(job)),
        })
        .execute();
      return { job, requestHash, inserted: true };
    });
  }

  async byKey(key: string): Promise<{ job: FineTuneJob; requestHash: string } | undefined> {
    const row = await this.db
      .selectFrom('jobs')
      .select(['json', 'request_hash'])
      .where('idempotency_key', '=', key)
      .executeTakeFirst();
    return row === undefined ? undefined : { job: parseJob(row.json), requestHash: row.request_hash };
  }

  async get(id: string): Promise<FineTuneJob | undefined> {
    const row = await this.db.selectFrom('jobs').select('json').where('id', '=', id).executeTakeFirst();
    return row === undefined ? undefined : parseJob(row.json);
  }

  /** Read-modify-write of one job in a transaction; updates of one job never interleave (see lockRows). */
  async update(id: string, change: (job: FineTuneJob) => FineTuneJob | undefined): Promise<FineTuneJob | undefined> {
    return this.db.transaction().execute(async (tx) => {
      const read = tx.selectFrom('jobs').select('json').where('id', '=', id);
      const row = await (this.lockRows ? read.forUpdate() : read).executeTakeFirst();
      if (row === undefined) return undefined;
      const before = parseJob(row.json);
      const after = change(before);
      if (after === undefined) return before;
      after.updatedAt = new Date();
      await tx
        .updateTable('jobs')
        .set({ status: after.status, json: JSON.stringify(FineTuneJob.toJSON(after)) })
        .where('id', '=', id)
        .execute();
      return after;
    });
  }

  /** Newest first, strictly older than `beforeSeq` (a keyset cursor: new jobs never shift a page). */
  async list(
    filter: JobFilter,
    beforeSeq: number | undefined,
    limit: number,
  ): Promise<{ job: FineTuneJob; seq: number }[]> {
    let q = this.db.selectFrom('jobs').select(['json', 'seq']).orderBy('seq', 'desc');
    if (beforeSeq !== undefined) q = q.where('seq', '<', beforeSeq);
    if (filter.statuses.length > 0) q = q.where('status', 'in', [...filter.statuses]);
    if (filter.baseModelId !== '') q = q.where('base_model_id', '=', filter.baseModelId);
    if (filter.datasetId !== '') q = q.where('dataset_id', '=', filter.datasetId);
    if (filter.method !== 0) q = q.where('method_kind', '=', filter.method);
    if (filter.ids.length > 0) q = q.where('id', 'in', [...filter.ids]);
    return (await q.limit(limit).execute()).map((r) => ({ job: parseJob(r.json), seq: Number(r.seq) }));
  }

  async putCheckpoint(c: Checkpoint): Promise<void> {
    const json = JSON.stringify(CheckpointCodec.toJSON(c));
    await this.db
      .insertInto('checkpoints')
      .values({ id: c.id, job_id: c.jobId, step: Number(c.step), json })
      .onConflict((oc) => oc.column('id').doUpdateSet({ json }))
      .execute();
  }

  private async allCheckpoints(jobId: string): Promise<Checkpoint[]> {
    return (await this.checkpointsByJob([jobId])).get(jobId) ?? [];
  }

  /** Every checkpoint of these jobs, newest first per job. */
  private async checkpointsByJob(jobIds: readonly string[]): Promise<Map<string, Checkpoint[]>> {
    const out = new Map<string, Checkpoint[]>(jobIds.map((id) => [id, []]));
    if (jobIds.length === 0) return out;
    const rows = await this.db
      .selectFrom('checkpoints')
      .select(['job_id', 'json'])
      .where('job_id', 'in', [...jobIds])
      .orderBy('step', 'desc')
      .execute();
    for (const r of rows) out.get(r.job_id)?.push(CheckpointCodec.fromJSON(JSON.parse(r.json)));
    return out;
  }

  /**
   * The checkpoints of one or more jobs, job by job in the order given, each newest first, then `offset` and
   * `limit` over that list. is_best is decided here, per job over the checkpoints it still has, so it stays
   * right after pruning and when a later checkpoint beats an earlier one (a job keeps at most a few hundred).
   */
  async checkpoints(jobIds: string | readonly string[], offset: number, limit: number): Promise<Checkpoint[]> {
    const ids = typeof jobIds === 'string' ? [jobIds] : jobIds;
    const byJob = await this.checkpointsByJob(ids);
    const all = ids.flatMap((id) => {
      const list = byJob.get(id) ?? [];
      const best = bestStep(list.map((c) => ({ step: Number(c.step), validationLoss: c.validationLoss })));
      return list.map((c) => ({ ...c, isBest: Number(c.step) === best }));
    });
    return all.slice(offset, offset + limit);
  }

  /** Drops the records of checkpoints save_total_limit pruned (the node deleted their files by the same rule). */
  async pruneCheckpoints(jobId: string, limit: number): Promise<void> {
    if (limit <= 0) return;
    const all = await this.allCheckpoints(jobId);
    const keep = retainedSteps(
      all.map((c) => ({ step: Number(c.step), validationLoss: c.validationLoss })),
      limit,
    );
    const gone = all.filter((c) => !keep.has(Number(c.step))).map((c) => c.id);
    if (gone.length > 0) await this.db.deleteFrom('checkpoints').where('id', 'in', gone).execute();
  }
}
