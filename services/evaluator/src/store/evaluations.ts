// Reads and writes of evaluations. Every write replaces the stored proto, so a reader sees one consistent
// snapshot (status, progress and results together).
import { Evaluation, EvaluationStatus } from '@tunemesh/proto';
import type { Kysely } from 'kysely';
import type { EvaluatorDb } from './db.js';

export function modelKey(e: Evaluation): string {
  const t = e.model?.target;
  return t ? `${t.$case}:${t.value}` : 'none';
}

const toRow = (e: Evaluation, idempotencyKey: string | null) => ({
  id: e.id,
  status: EvaluationStatus[e.status],
  dataset_id: e.datasetId,
  split: e.split,
  base_model_id: e.baseModelId,
  job_id: e.jobId,
  model_key: modelKey(e),
  is_baseline: e.isBaseline ? 1 : 0,
  idempotency_key: idempotencyKey,
  body_json: JSON.stringify(Evaluation.toJSON(e)),
  created_at: (e.createdAt ?? new Date()).toISOString(),
  finished_at: e.finishedAt ? e.finishedAt.toISOString() : null,
});

const fromBody = (body: string): Evaluation => Evaluation.fromJSON(JSON.parse(body));

export interface ListFilter {
  readonly jobIds?: readonly string[];
  readonly datasetId?: string;
  readonly baseModelId?: string;
  readonly statuses?: readonly EvaluationStatus[];
  readonly ids?: readonly string[];
  /** Only rows with seq below this (the page token). */
  readonly beforeSeq?: number;
  readonly limit: number;
}

export class EvaluationRecords {
  constructor(private readonly db: Kysely<EvaluatorDb>) {}

  async insert(e: Evaluation, idempotencyKey: string | null): Promise<void> {
    // seq is max+1; two inserts racing for the same value collide on its unique index, and the loser retries.
    for (let attempt = 0; ; attempt++) {
      const next = await this.db
        .selectFrom('evaluations')
        .select((eb) => eb.fn.max('seq').as('m'))
        .executeTakeFirst();
      try {
        await this.db
          .insertInto('evaluations')
          .values({ ...toRow(e, idempotencyKey), seq: Number(next?.m ?? 0) + 1 })
          .execute();
        return;
      } catch (err) {
        if (attempt >= 4 || (await this.get(e.id)) !== undefined) throw err;
      }
    }
  }

  async update(e: Evaluation): Promise<void> {
    const { idempotency_key: _, ...row } = toRow(e, null);
    await this.db.updateTable('evaluations').set(row).where('id', '=', e.id).execute();
  }

  async get(id: string): Promise<Evaluation | undefined> {
    const r = await this.db.selectFrom('evaluations').select('body_json').where('id', '=', id).executeTakeFirst();
    return r ? fromBody(r.body_json) : undefined;
  }

  async byIdempotencyKey(key: string): Promise<Evaluation | undefined> {
    const r = await this.db
      .selectFrom('evaluations')
      .select('body_json')
      .where('idempotency_key', '=', key)
      .executeTakeFirst();
    return r ? fromBody(r.body_json) : undefined;
  }

  /** Newest first, with each row's seq for the next page token. */
  async list(f: ListFilter): Promise<{ evaluation: Evaluation; seq: number }[]> {
    let q = this.db.selectFrom('evaluations').select(['body_json', 'seq']);
    if (f.jobIds && f.jobIds.length > 0) q = q.where('job_id', 'in', [...f.jobIds]);
    if (f.ids && f.ids.length > 0) q = q.where('id', 'in', [...f.ids]);
    if (f.datasetId) q = q.where('dataset_id', '=', f.datasetId);
    if (f.baseModelId) q = q.where('base_model_id', '=', f.baseModelId);
    if (f.statuses && f.statuses.length > 0)
      q = q.where(
        'status',
        'in',
        f.statuses.map((s) => EvaluationStatus[s]),
      );
    if (f.beforeSeq !== undefined) q = q.where('seq', '<', f.beforeSeq);
    const rows = await q.orderBy('seq', 'desc').limit(f.limit).execute();
    return rows.map((r) => ({ evaluation: fromBody(r.body_json), seq: r.seq }));
  }

  /** Every SUCCEEDED evaluation on a dataset split, newest first (the leaderboard keeps one per model). */
  async succeededOn(datasetId: string, split: number): Promise<Evaluation[]> {
    const rows = await this.db
      .selectFrom('evaluations')
      .select('body_json')
      .where('dataset_id', '=', datasetId)
      .where('split', '=', split)
      .where('status', '=', EvaluationStatus[EvaluationStatus.SUCCEEDED])
      .orderBy('seq', 'desc')
      .execute();
    return rows.map((r) => fromBody(r.body_json));
  }
}
