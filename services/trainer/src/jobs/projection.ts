// The job records follow the job events: the service consumes JOB_EVENTS with a durable consumer and applies
// each event to its job, so nodes (separate processes, maybe on other machines) never touch the database.
// Events at or below the job's last applied sequence are ignored, which makes redelivery harmless.

import type { Logger } from '@tunemesh/kit';
import { decodeJobEvent, type FineTuneJob, type JobEventEnvelope, JobStatus, STREAMS } from '@tunemesh/proto';
import { AckPolicy, DeliverPolicy, type JetStreamClient, type JetStreamManager } from 'nats';
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
  try {
    for await (const msg of messages) {
      try {
        const env = decodeJobEvent(msg.subject, msg.data);
        if (env.event?.$case === 'checkpoint' && env.event.value.checkpoint !== undefined) {
          await jobs.putCheckpoint({ ...env.event.value.checkpoint, sequence: env.sequence });
          const limit = (await jobs.get(env.jobId))?.hyperparameters?.saveTotalLimit ?? 0;
          await jobs.pruneCheckpoints(env.jobId, limit);
        }
        await jobs.update(env.jobId, (job) => applyEvent(job, env, lossChartOf(env.jobId)));
        msg.ack();
      } catch (err) {
        logger.warn({ err, subject: msg.subject }, 'could not apply a job event; retrying');
        msg.nak(1_000);
      }
    }
  } finally {
    signal.removeEventListener('abort', stop);
  }
}
