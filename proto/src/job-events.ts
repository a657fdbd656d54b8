// Job events travel as one message per subject (`job.<id>.<kind>`, payload = that kind's message) but are
// consumed as one ordered stream (StreamJobProgress, the gateway's trainingProgress). These two functions are the
// only translation between the two shapes, so publishers and consumers cannot disagree on it.
import type { BinaryReader, BinaryWriter } from '@bufbuild/protobuf/wire';
import {
  JobCancelled,
  JobCheckpoint,
  JobCompleted,
  type JobEventEnvelope,
  JobFailed,
  JobProgress,
  JobQueued,
  JobStarted,
} from './gen/tunemesh/v1/events.js';
import { type JobEventKind, jobEventMessageId, jobSubject, parseJobSubject } from './subjects.js';

/** What every generated message object offers for the binary encoding. */
export interface MessageCodec<T> {
  encode(message: T, writer?: BinaryWriter): BinaryWriter;
  decode(input: BinaryReader | Uint8Array, length?: number): T;
}

/** One job event: the oneof of JobEventEnvelope, whose `$case` is the subject's last token. */
export type JobEvent = NonNullable<JobEventEnvelope['event']>;

/** Full protobuf name of each job event's payload, for the Tunemesh-Type header. */
export const JOB_EVENT_TYPE_NAMES: { readonly [K in JobEventKind]: string } = {
  queued: 'tunemesh.v1.JobQueued',
  started: 'tunemesh.v1.JobStarted',
  progress: 'tunemesh.v1.JobProgress',
  checkpoint: 'tunemesh.v1.JobCheckpoint',
  completed: 'tunemesh.v1.JobCompleted',
  failed: 'tunemesh.v1.JobFailed',
  cancelled: 'tunemesh.v1.JobCancelled',
};

/** A job event ready to publish. */
export interface EncodedJobEvent {
  /** `job.<id>.<kind>`. */
  readonly subject: string;
  /** The payload message, binary-encoded. */
  readonly data: Uint8Array;
  /** Value of the Tunemesh-Type header. */
  readonly typeName: string;
  /** Value of the Nats-Msg-Id header (deduplicates retried publishes). */
  readonly messageId: string;
  /** The per-job sequence number. */
  readonly sequence: bigint;
}

/** A message on a job subject that is not a job event, or whose payload contradicts its subject. */
export class InvalidJobEventError extends Error {
  override readonly name = 'InvalidJobEventError';
}

/** Encodes a job event for publishing on its own subject. */
export function encodeJobEvent(event: JobEvent): EncodedJobEvent {
  const { jobId, sequence } = event.value;
  return {
    subject: jobSubject(jobId, event.$case),
    data: encodePayload(event),
    typeName: JOB_EVENT_TYPE_NAMES[event.$case],
    messageId: jobEventMessageId(jobId, sequence),
    sequence,
  };
}

/** Decodes a message received on `job.<id>.<kind>` into the envelope StreamJobProgress sends. */
export function decodeJobEvent(subject: string, data: Uint8Array): JobEventEnvelope {
  const parsed = parseJobSubject(subject);
  if (parsed === undefined) throw new InvalidJobEventError(`not a job event subject: ${subject}`);
  const event = decodePayload(parsed.kind, data);
  if (event.value.jobId !== parsed.jobId) {
    throw new InvalidJobEventError(`payload of ${subject} names job ${JSON.stringify(event.value.jobId)}`);
  }
  return { jobId: parsed.jobId, sequence: event.value.sequence, event };
}

// A switch per case rather than a lookup table: TypeScript cannot correlate a table's codec with the union's
// value type, and a cast would hide a wrong pairing.
function encodePayload(event: JobEvent): Uint8Array {
  switch (event.$case) {
    case 'queued':
      return JobQueued.encode(event.value).finish();
    case 'started':
      return JobStarted.encode(event.value).finish();
    case 'progress':
      return JobProgress.encode(event.value).finish();
    case 'checkpoint':
      return JobCheckpoint.encode(event.value).finish();
    case 'completed':
      return JobCompleted.encode(event.value).finish();
    case 'failed':
      return JobFailed.encode(event.value).finish();
    case 'cancelled':
      return JobCancelled.encode(event.value).finish();
  }
}

function decodePayload(kind: JobEventKind, data: Uint8Array): JobEvent {
  switch (kind) {
    case 'queued':
      return { $case: kind, value: JobQueued.decode(data) };
    case 'started':
      return { $case: kind, value: JobStarted.decode(data) };
    case 'progress':
      return { $case: kind, value: JobProgress.decode(data) };
    case 'checkpoint':
      return { $case: kind, value: JobCheckpoint.decode(data) };
    case 'completed':
      return { $case: kind, value: JobCompleted.decode(data) };
    case 'failed':
      return { $case: kind, value: JobFailed.decode(data) };
    case 'cancelled':
      return { $case: kind, value: JobCancelled.decode(data) };
  }
}
