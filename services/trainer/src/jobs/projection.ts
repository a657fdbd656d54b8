// The job records follow the job events: the service consumes JOB_EVENTS with a durable consumer and applies
// each event to its job, so nodes (separate processes, maybe on other machines) never touch the database.
// Events at or below the job's last applied sequence are ignored, which makes redelivery harmless.

import type { Logger } from '@tunemesh/kit';
import { decodeJobEvent, type FineTuneJob, type JobEventEnvelope, JobStatus, STREAMS } from '@tunemesh/proto';
import { AckPolicy, DeliverPolicy, type JetStreamClient, type JetStreamManager, type JsMsg } from 'nats';
import type { JobRecords } from '../store/jobs.js';

export const PROJECTION_CONSUMER = 'trainer-service-records';

const TERMINAL = new Set([JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED]);

/** Applies one event to a job; undefined when nothing changes. */
export function applyEvent(
  job: FineTuneJob,
  env: JobEventEnvelope,
  lossChart: string | undefined,
): FineTuneJob | undefined {
  const p = job.progress ?? { step: 0n, totalSteps: 0n, epoch: 0, tokensSeen: 0n, lastSequence: 0n };
  if (env.sequence <= p.lastSequence || env.event === undefined) return undefined;
  const next: FineTuneJob = { ...job, progress: { ...p, lastSequence: env.sequence } };
  const prog = next.progress as NonNullable<FineTuneJob['progress']>;
  const e = env.event;
  // A terminal job keeps its status; only the sequence moves on.
  const settable = !TERMINAL.has(job.status);
  switch (e.$case) {
    case 'queued':
      if (settable) next.status = JobStatus.QUEUED;
      next.queuedAt ??= e.value.occurredAt;
      break;
    case 'started':
      if (settable) next.status = JobStatus.RUNNING;
      next.nodeId = e.value.nodeId;
      next.attempt = e.value.attempt;
      next.startedAt ??= e.value.occurredAt;
      prog.totalSteps = e.value.totalSteps;
      next.trainableParams = e.value.trainableParams;
      next.totalParams = e.value.totalParams;
      if (lossChart !== undefined) next.lossCurve = { path: lossChart, sizeBytes: 0n, sha256: '' };
      break;
    case 'progress': {
      const v = e.value;
      prog.step = v.step;
      prog.totalSteps = v.totalSteps;
      prog.epoch = v.epoch;
      prog.loss = v.loss;
      prog.tokensSeen = v.tokensSeen;
      if (v.validationLoss !== undefined) {
        prog.validationLoss = v.validationLoss;
        if (prog.bestValidationLoss === undefined || v.validationLoss < prog.bestValidationLoss)
          prog.bestValidationLoss = v.validationLoss;
      }
      break;
    }
    case 'checkpoint':
      if (e.value.checkpoint !== undefined) next.latestCheckpointId = e.value.checkpoint.id;
      break;
    case 'completed':
      next.status = JobStatus.SUCCEEDED;
      if (e.value.adapter !== undefined) next.adapter = e.value.adapter;
      prog.step = e.value.steps;
      next.finishedAt = e.value.occurredAt;
      next.cancelRequested = false;
      break;
    case 'failed':
      next.status = JobStatus.FAILED;
      next.failure = e.value.failure;
      next.finishedAt = e.value.occurredAt;
      break;
    case 'cancelled':
      next.status = JobStatus.CANCELLED;
      next.finishedAt = e.value.occurredAt;
      break;
  }
  return next;
}

export async function declareProjectionConsumer(jsm: JetStreamManager): Promise<void> {
  try {
    await jsm.consumers.info(STREAMS.jobEvents.name, PROJECTION_CONSUMER);
  } catch {
    await jsm.consumers.add(STREAMS.jobEvents.name, {
      durable_name: PROJECTION_CONSUMER,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      max_deliver: -1,
    });
  }
}

/** Applies events of one job in order; undefined when none changes it. */
export function applyEvents(
  job: FineTuneJob,
  envs: readonly JobEventEnvelope[],
  lossChart: string | undefined,
): FineTuneJob | undefined {
  let cur: FineTuneJob | undefined;
  for (const env of envs) cur = applyEvent(cur ?? job, env, lossChart) ?? cur;
  return cur;
}

/**
 * How long progress events of a job may wait to be written together. A node publishes one per step (tens of
 * milliseconds apart on a small model); writing each alone costs the service a transaction per step, and on a
 * shared machine that CPU comes out of training. Any other event of the job writes what waits at once, first.
 */
export const PROGRESS_COALESCE_MS = 250;

/** Runs until `signal` aborts: each job event updates its job (and the checkpoint table). */
export async function runProjection(
  js: JetStreamClient,
  jobs: JobRecords,
  lossChartOf: (jobId: string) => string,
  logger: Logger,
  signal: AbortSignal,
): Promise<void> {
  const consumer = await js.consumers.get(STREAMS.jobEvents.name, PROJECTION_CONSUMER);
  const messages = await consumer.consume({ max_messages: 64 });
  const stop = () => messages.stop();
  signal.addEventListener('abort', stop, { once: true });
  // Writes run one at a time, in arrival order, so a job's events are applied in sequence order.
  let chain: Promise<void> = Promise.resolve();
  const serial = (work: () => Promise<void>): Promise<void> => {
    const p = chain.then(work);
    chain = p.catch(() => undefined);
    return p;
  };
  const waiting = new Map<string, { envs: JobEventEnvelope[]; msgs: JsMsg[] }>();
  let timer: NodeJS.Timeout | undefined;
  const write = async (jobId: string, envs: JobEventEnvelope[], msgs: JsMsg[]): Promise<void> => {
    try {
      for (const env of envs) {
        if (env.event?.$case === 'checkpoint' && env.event.value.checkpoint !== undefined) {
          await jobs.putCheckpoint({ ...env.event.value.checkpoint, sequence: env.sequence });
          const limit = (await jobs.get(jobId))?.hyperparameters?.saveTotalLimit ?? 0;
          await jobs.pruneCheckpoints(jobId, limit);
        }
      }
      await jobs.update(jobId, (job) => applyEvents(job, envs, lossChartOf(jobId)));
    } catch (err) {
      logger.warn({ err, jobId }, 'could not apply job events; retrying');
      // Redelivered events at or below the job's applied sequence are ignored, so retrying a batch is harmless.
      settle(msgs, (m) => m.nak(1_000));
      return;
    }
    settle(msgs, (m) => m.ack());
  };
  // At shutdown the connection may close before the last write ends; unacknowledged events are redelivered.
  const settle = (msgs: JsMsg[], how: (m: JsMsg) => void) => {
    try {
      for (const m of msgs) how(m);
    } catch (err) {
      logger.debug({ err }, 'could not settle job events (connection closing); they will be redelivered');
    }
  };
  const take = (jobId: string) => {
    const w = waiting.get(jobId) ?? { envs: [], msgs: [] };
    waiting.delete(jobId);
    return w;
  };
  const flushAll = (): Promise<void> => {
    timer = undefined;
    const ids = [...waiting.keys()];
    return serial(async () => {
      for (const id of ids) {
        const w = take(id);
        if (w.msgs.length > 0) await write(id, w.envs, w.msgs);
      }
    });
  };
  try {
    for await (const msg of messages) {
      let env: JobEventEnvelope;
      try {
        env = decodeJobEvent(msg.subject, msg.data);
      } catch (err) {
        logger.warn({ err, subject: msg.subject }, 'could not decode a job event; dropped');
        msg.term();
        continue;
      }
      if (env.event?.$case === 'progress') {
        const w = waiting.get(env.jobId) ?? { envs: [], msgs: [] };
        w.envs.push(env);
        w.msgs.push(msg);
        waiting.set(env.jobId, w);
        timer ??= setTimeout(() => void flushAll(), PROGRESS_COALESCE_MS);
        continue;
      }
      const w = take(env.jobId);
      await serial(() => write(env.jobId, [...w.envs, env], [...w.msgs, msg]));
    }
  } finally {
    signal.removeEventListener('abort', stop);
    if (timer !== undefined) clearTimeout(timer);
    await flushAll();
  }
}
