// Derived artefacts (merged models, exports, combined adapters): the proto's JSON form plus the columns that
// listing filters on. The files themselves live under the store directory, named by the artefact id.
import { Artifact, type ArtifactKind } from '@tunemesh/proto';
import type { Kysely } from 'kysely';
import type { EvaluatorDb } from './db.js';

const fromBody = (body: string): Artifact => Artifact.fromJSON(JSON.parse(body));

export class ArtifactRecords {
  constructor(private readonly db: Kysely<EvaluatorDb>) {}

  async insert(a: Artifact): Promise<void> {
    // seq is max+1; two inserts racing for the same value collide on its unique index, and the loser retries.
    for (let attempt = 0; ; attempt++) {
      const next = await this.db
        .selectFrom('artifacts')
        .select((eb) => eb.fn.max('seq').as('m'))
        .executeTakeFirst();
      try {
        await this.db
          .insertInto('artifacts')
          .values({
            id: a.id,
            seq: Number(next?.m ?? 0) + 1,
            kind: a.kind,
            base_model_id: a.baseModelId,
            body_json: JSON.stringify(Artifact.toJSON(a)),
            created_at: (a.createdAt ?? new Date()).toISOString(),
          })
          .execute();
        return;
      } catch (err) {
        if (attempt >= 4 || (await this.get(a.id)) !== undefined) throw err;
      }
    }
  }

  async get(id: string): Promise<Artifact | undefined> {
    const r = await this.db.selectFrom('artifacts').select('body_json').where('id', '=', id).executeTakeFirst();
    return r ? fromBody(r.body_json) : undefined;
  }

  async list(f: {
    kind?: ArtifactKind;
    baseModelId?: string;
    ids?: readonly string[];
    beforeSeq?: number;
    limit: number;
  }): Promise<{ artifact: Artifact; seq: number }[]> {
    let q = this.db.selectFrom('artifacts').select(['body_json', 'seq']);
    if (f.kind) q = q.where('kind', '=', f.kind);
    if (f.baseModelId) q = q.where('base_model_id', '=', f.baseModelId);
    if (f.ids && f.ids.length > 0) q = q.where('id', 'in', [...f.ids]);
    if (f.beforeSeq !== undefined) q = q.where('seq', '<', f.beforeSeq);
    const rows = await q.orderBy('seq', 'desc').limit(f.limit).execute();
    return rows.map((r) => ({ artifact: fromBody(r.body_json), seq: r.seq }));
  }
}
