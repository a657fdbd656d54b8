// Job events from JetStream (JOB_EVENTS, `job.<id>.<kind>`) as trainingProgress and jobStatusChanged events.
import {
  decodeJobEvent,
  type JobEventEnvelope,
  JobFailureCode,
  jobEventsWildcard,
  STREAMS,
  SUBJECTS,
} from '@tunemesh/proto';
import type { JsMsg, NatsConnection } from 'nats';
import { toGraphQLEnum } from '../enums.js';
import type { JobStatus, JobStatusChange, TrainingEvent, TrainingEventKind } from '../generated/resolvers-types.js';
import { streamIterator } from './stream-iterator.js';

const STATUS_BY_KIND: Partial<Record<string, JobStatus>> = {
  queued: 'QUEUED',
  started: 'RUNNING',
  completed: 'SUCCEEDED',
  failed: 'FAILED',
  cancelled: 'CANCELLED',
};

const TERMINAL: ReadonlySet<TrainingEventKind> = new Set(['COMPLETED', 'FAILED', 'CANCELLED']);

function decode(msg: JsMsg): JobEventEnvelope | undefined {
  try {
    return decodeJobEvent(msg.subject, msg.data);
  } catch {
    // A malformed message on a job subject is a publisher's bug; one bad message must not end every subscription.
    return undefined;
  }
}

export function trainingEvent(envelope: JobEventEnvelope): TrainingEvent | undefined {
  const event = envelope.event;
  if (event === undefined) return undefined;
  const base = {
    sequence: envelope.sequence,
    kind: event.$case.toUpperCase() as TrainingEventKind,
    step: null,
    totalSteps: null,
    loss: null,
    learningRate: null,
    tokensPerSecond: null,
    epoch: null,
    validationLoss: null,
    tokensSeen: null,
    elapsedSeconds: null,
    remainingSeconds: null,
    status: STATUS_BY_KIND[event.$case] ?? null,
    error: null,
  };
  switch (event.$case) {
    case 'progress': {
      const p = event.value;
      return {
        ...base,
        step: p.step,
        totalSteps: p.totalSteps,
        loss: p.loss,
        learningRate: p.learningRate,
        tokensPerSecond: p.tokensPerSecond,
        epoch: p.epoch,
        validationLoss: p.validationLoss ?? null,
        tokensSeen: p.tokensSeen,
        elapsedSeconds: p.elapsedSeconds,
        remainingSeconds: p.remainingSeconds ?? null,
      };
    }
    case 'started':
      return { ...base, totalSteps: event.value.totalSteps };
    case 'checkpoint':
      return {
        ...base,
        step: event.value.checkpoint?.step ?? null,
        loss: event.value.checkpoint?.loss ?? null,
        epoch: event.value.checkpoint?.epoch ?? null,
        validationLoss: event.value.checkpoint?.validationLoss ?? null,
      };
    case 'completed':
      return { ...base, step: event.value.steps, loss: event.value.finalLoss };
    case 'failed': {
      const f = event.value.failure;
      const code = f === undefined || f.code === 0 ? 'INTERNAL' : toGraphQLEnum(JobFailureCode, f.code, 'failure code');
      return { ...base, step: f?.step ?? null, error: { code, message: f?.message ?? '' } };
    }
    case 'cancelled':
      return { ...base, step: event.value.step };
    default:
      return base;
  }
}

/** A job's events after `sinceSequence` (per-job sequence, exclusive), then live; ends with its terminal event. */
export function trainingProgress(
  nc: NatsConnection,
  jobId: string,
  sinceSequence: bigint,
): AsyncIterableIterator<TrainingEvent> {
  // The stream is read from the job's first event and earlier ones skipped: the per-job sequence is not the
  // stream sequence, and a job's history is small next to the stream's.
  return streamIterator(
    nc,
    { stream: STREAMS.jobEvents.name, filterSubject: jobEventsWildcard(jobId), from: 'all' },
    (msg) => {
      const envelope = decode(msg);
      return envelope === undefined || envelope.sequence <= sinceSequence ? undefined : trainingEvent(envelope);
    },
    (event) => TERMINAL.has(event.kind),
  );
}

/** Live status changes of one job or of all jobs (progress and checkpoints are not status changes). */
export function jobStatusChanges(
  nc: NatsConnection,
  jobId: string | undefined,
): AsyncIterableIterator<JobStatusChange> {
  const filterSubject = jobId === undefined ? SUBJECTS.allJobEvents : jobEventsWildcard(jobId);
  return streamIterator(nc, { stream: STREAMS.jobEvents.name, filterSubject, from: 'new' }, (msg) => {
    const envelope = decode(msg);
    const status = envelope?.event ? STATUS_BY_KIND[envelope.event.$case] : undefined;
    return envelope === undefined || status === undefined
      ? undefined
      : { jobId: envelope.jobId, sequence: envelope.sequence, status };
  });
}
