// Putting a job on the work queue and taking it off: the TrainWorkItem carries everything a node needs (message
// id = job id, so a job is queued once); a cancel is a message on the trainer control stream, which a node
// checks before it starts a job and listens to while it runs.

import { FailedPreconditionError, NotFoundError, publishEvent } from '@tunemesh/kit';
import {
  type BaseModel,
  type FineTuneJob,
  JobCancelRequested,
  JobStatus,
  jobCancelSubject,
  SUBJECTS,
  TrainWorkItem,
} from '@tunemesh/proto';
import type { JetStreamClient, JetStreamManager } from 'nats';
import { lastJobEvent, publishJobEvent } from '../events.js';
import type { JobRecords } from '../store/jobs.js';
import { METHOD_KIND_OF } from './method.js';

export interface QueueDeps {
  js: JetStreamClient;
  jsm: JetStreamManager;
  jobs: JobRecords;
}

const methodKind = (job: FineTuneJob) => METHOD_KIND_OF[job.method?.config?.$case ?? ''] ?? 0;

export async function enqueue(deps: QueueDeps, job: FineTuneJob, model: BaseModel): Promise<FineTuneJob> {
  const now = new Date();
  const item: TrainWorkItem = {
    jobId: job.id,
    baseModelId: model.id,
    baseModelPath: model.path,
    datasetId: job.datasetId,
    method: job.method,
    hyperparameters: job.hyperparameters,
    evaluationMetrics: job.evaluationMetrics,
    device: job.hyperparameters?.device ?? 0,
    enqueuedAt: now,
  };
  const last = await lastJobEvent(deps.jsm, job.id);
  if (last.kind === undefined) {
    await publishJobEvent(deps.js, {
      $case: 'queued',
      value: {
        jobId: job.id,
        sequence: last.sequence + 1n,
        baseModelId: job.baseModelId,
        datasetId: job.datasetId,
        method: methodKind(job),
        previousAttempts: 0,
        occurredAt: now,
      },
    });
  }
  // After job.queued, so the first event of the job is always `queued` and a node's `started` follows it.
  // With the create call's trace context in its headers: the node that trains the job continues that trace.
  await publishEvent(deps.js, SUBJECTS.trainWork, TrainWorkItem, item, { msgId: job.id, component: 'trainer' });
  const updated = await deps.jobs.update(job.id, (j) =>
    j.status === JobStatus.VALIDATING ? { ...j, status: JobStatus.QUEUED, queuedAt: now } : undefined,
  );
  return updated ?? job;
}

export async function cancelJob(deps: QueueDeps, id: string, reason: string): Promise<FineTuneJob> {
  const job = await deps.jobs.get(id);
  if (job === undefined) throw new NotFoundError(`job ${JSON.stringify(id)} does not exist`);
  if (job.status === JobStatus.CANCELLED) return job;
  if (job.status === JobStatus.SUCCEEDED || job.status === JobStatus.FAILED)
    throw new FailedPreconditionError(
      `job ${id} has already ${job.status === JobStatus.SUCCEEDED ? 'succeeded' : 'failed'}`,
    );
  const now = new Date();
  // The control stream keeps it, so a node that picks the job up later still sees it.
  await deps.js.publish(
    jobCancelSubject(id),
    JobCancelRequested.encode({ jobId: id, reason, requestedAt: now }).finish(),
  );
  let cancelledHere = false;
  const last = await lastJobEvent(deps.jsm, id);
  if (last.kind === 'queued') {
    // Not started: end it here. A node racing to start it publishes `started` with this same sequence; JetStream
    // stores whichever came first, and the loser sees `duplicate` (the node then drops the job, or, if the node
    // won, the control message stops it at its first step).
    const r = await publishJobEvent(deps.js, {
      $case: 'cancelled',
      value: { jobId: id, sequence: last.sequence + 1n, reason, step: 0n, lastCheckpointId: '', occurredAt: now },
    });
    cancelledHere = r.stored;
  }
  const updated = await deps.jobs.update(id, (j) => {
    if (j.status === JobStatus.SUCCEEDED || j.status === JobStatus.FAILED || j.status === JobStatus.CANCELLED)
      return undefined;
    return cancelledHere
      ? { ...j, status: JobStatus.CANCELLED, cancelRequested: true, finishedAt: now }
      : { ...j, cancelRequested: true };
  });
  return updated ?? job;
}

/**
 * Jobs recorded but not queued when the service stopped (between insert and enqueue) are queued on start. A job
 * whose work item was in fact published is harmless to queue again: JetStream drops the duplicate inside its
 * window, and a node skips a job whose last event is terminal.
 */
export async function requeueValidating(
  deps: QueueDeps,
  modelOf: (id: string) => Promise<BaseModel | undefined>,
): Promise<number> {
  const stuck = await deps.jobs.list(
    { statuses: [JobStatus.VALIDATING], baseModelId: '', datasetId: '', method: 0, ids: [] },
    undefined,
    10_000,
  );
  let n = 0;
  for (const { job } of stuck) {
    const model = await modelOf(job.baseModelId);
    if (model === undefined) continue;
    await enqueue(deps, job, model);
    n++;
  }
  return n;
}
