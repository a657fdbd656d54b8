// The job-record projection against a real nats-server and SQLite: progress events written together (fewer
// transactions than events), every other event written at once after what waited, in sequence order.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectNats, declareStreams, type NatsHandle, silentLogger } from '@tunemesh/kit';
import { type LocalNatsServer, startTestNats } from '@tunemesh/kit/testing';
import { FineTuneJob, JobCompleted, type JobEvent, JobProgress, JobStatus, MethodKind, STREAMS } from '@tunemesh/proto';
import type { Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { publishJobEvent } from '../events.js';
import { openTrainerDb, type TrainerDb } from '../store/db.js';
import { JobRecords } from '../store/jobs.js';
import { applyEvents, declareProjectionConsumer, PROGRESS_COALESCE_MS, runProjection } from './projection.js';

let nats: LocalNatsServer;
let conn: NatsHandle;
let dir: string;
let db: Kysely<TrainerDb>;

beforeAll(async () => {
  nats = await startTestNats();
  conn = await connectNats({ servers: [nats.url], name: 'projection-test', logger: silentLogger() });
  await declareStreams(conn.jsm, [STREAMS.jobEvents]);
  await declareProjectionConsumer(conn.jsm);
  dir = await mkdtemp(join(tmpdir(), 'tm-projection-'));
  db = await openTrainerDb({ kind: 'sqlite', path: join(dir, 'trainer.sqlite') });
}, 60_000);

afterAll(async () => {
  await db?.destroy();
  await conn?.close();
  await nats?.stop();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

/** Counts read-modify-writes, the cost coalescing saves. */
class CountingRecords extends JobRecords {
  updates = 0;
  override update(...args: Parameters<JobRecords['update']>) {
    this.updates += 1;
    return super.update(...args);
  }
}

const progress = (jobId: string, sequence: number, step: number, validationLoss?: number): JobEvent => ({
  $case: 'progress',
  value: JobProgress.fromPartial({
    jobId,
    sequence: BigInt(sequence),
    step: BigInt(step),
    totalSteps: 40n,
    loss: 10 - step / 10,
    ...(validationLoss !== undefined && { validationLoss }),
  }),
});

describe('runProjection', () => {
  it('writes a burst of progress events in few transactions, with the last step, the best validation loss and the final status', async () => {
    const jobs = new CountingRecords(db);
    const jobId = 'job_coalesce';
    await jobs.insert(
      FineTuneJob.fromPartial({ id: jobId, idempotencyKey: jobId, status: JobStatus.RUNNING }),
      'hash',
      MethodKind.LORA,
    );
    const stop = new AbortController();
    const running = runProjection(conn.nc.jetstream(), jobs, () => 'chart.svg', silentLogger(), stop.signal);
    const js = conn.nc.jetstream();
    // 40 steps far faster than the coalescing window; the lowest validation loss comes in the middle.
    for (let s = 1; s <= 40; s++)
      await publishJobEvent(js, progress(jobId, s, s, s % 10 === 0 ? 3 - (s === 20 ? 1 : 0) : undefined));
    const deadline = Date.now() + 10_000;
    while ((await jobs.get(jobId))?.progress?.step !== 40n && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 20));
    const mid = await jobs.get(jobId);
    expect(mid?.progress?.step).toBe(40n);
    expect(mid?.progress?.validationLoss).toBe(3);
    expect(mid?.progress?.bestValidationLoss).toBe(2);
    expect(mid?.status).toBe(JobStatus.RUNNING);
    expect(jobs.updates).toBeLessThan(40 / 4);

    // A progress event then the completion, back to back: the completion does not wait for the window, and the
    // progress before it is applied first (its step is overwritten by the completion's, the loss is kept).
    const before = jobs.updates;
    await publishJobEvent(js, progress(jobId, 41, 41));
    const t0 = Date.now();
    await publishJobEvent(js, {
      $case: 'completed',
      value: JobCompleted.fromPartial({ jobId, sequence: 42n, steps: 41n, finalLoss: 5.9 }),
    });
    while ((await jobs.get(jobId))?.status !== JobStatus.SUCCEEDED && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 5));
    expect(Date.now() - t0).toBeLessThan(PROGRESS_COALESCE_MS);
    const done = await jobs.get(jobId);
    expect(done?.status).toBe(JobStatus.SUCCEEDED);
    expect(done?.progress?.lastSequence).toBe(42n);
    expect(done?.progress?.loss).toBeCloseTo(10 - 4.1, 6);
    expect(jobs.updates - before).toBe(1);

    stop.abort();
    await running;
    await conn.nc.flush(); // the acks went out on this connection; a round trip makes sure the server has them
    // Every event was acknowledged: nothing is left for the durable consumer to redeliver.
    const info = await conn.jsm.consumers.info(STREAMS.jobEvents.name, 'trainer-service-records');
    expect(info.num_ack_pending + info.num_pending).toBe(0);
  }, 30_000);
});

describe('applyEvents', () => {
  it('ignores events at or below the applied sequence and returns undefined when nothing changes', () => {
    const job = FineTuneJob.fromPartial({
      id: 'j',
      status: JobStatus.RUNNING,
      progress: { step: 5n, totalSteps: 10n, epoch: 0, tokensSeen: 0n, lastSequence: 5n },
    });
    const env = (e: JobEvent) => ({ jobId: 'j', sequence: e.value.sequence, event: e });
    expect(applyEvents(job, [env(progress('j', 4, 4)), env(progress('j', 5, 5))], undefined)).toBeUndefined();
    const next = applyEvents(
      job,
      [env(progress('j', 6, 6)), env(progress('j', 3, 3)), env(progress('j', 7, 7))],
      undefined,
    );
    expect(next?.progress?.step).toBe(7n);
    expect(next?.progress?.lastSequence).toBe(7n);
  });
});
