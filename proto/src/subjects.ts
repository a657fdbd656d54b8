// NATS subject names, JetStream stream layout and header names shared by every publisher and subscriber.
// events.proto documents the same table; this file is what code uses, so that a subject is spelled in one place.

/** Header carrying the full protobuf name of a NATS message's payload, e.g. "tunemesh.v1.JobProgress". */
export const TYPE_HEADER = 'Tunemesh-Type';

/** gRPC trailing-metadata key carrying a binary-encoded tunemesh.v1.ErrorInfo on a failed call. */
export const ERROR_DETAIL_METADATA_KEY = 'tunemesh-error-bin';

/** Fixed subjects (no id in them) and wildcards for subscribing to whole families. */
export const SUBJECTS = {
  datasetReady: 'dataset.ready',
  datasetFailed: 'dataset.failed',
  trainWork: 'work.train',
  evalWork: 'work.eval',
  allDatasetEvents: 'dataset.>',
  allJobEvents: 'job.>',
  allEvaluationEvents: 'eval.>',
  allTrainerControl: 'trainer.control.>',
  allHeartbeats: 'trainer.node.*.heartbeat',
} as const;

/** How a stream keeps its messages; mirrors JetStream's retention and per-subject limits. */
export type StreamRetention = 'limits' | 'workqueue' | 'last-per-subject';

/** A JetStream stream every deployment declares (idempotently, at service start). */
export interface StreamSpec {
  readonly name: string;
  readonly subjects: readonly string[];
  readonly retention: StreamRetention;
}

/**
 * The streams. Event streams keep history so that a late subscriber replays it (the gateway's subscriptions,
 * StreamJobProgress); work queues hand each message to one consumer; trainer control keeps only the newest
 * message per job so a node about to start a job can see that it was cancelled while queued.
 */
export const STREAMS = {
  datasetEvents: { name: 'DATASET_EVENTS', subjects: [SUBJECTS.allDatasetEvents], retention: 'limits' },
  jobEvents: { name: 'JOB_EVENTS', subjects: [SUBJECTS.allJobEvents], retention: 'limits' },
  evaluationEvents: { name: 'EVAL_EVENTS', subjects: [SUBJECTS.allEvaluationEvents], retention: 'limits' },
  trainWork: { name: 'TRAIN_WORK', subjects: [SUBJECTS.trainWork], retention: 'workqueue' },
  evalWork: { name: 'EVAL_WORK', subjects: [SUBJECTS.evalWork], retention: 'workqueue' },
  trainerControl: { name: 'TRAINER_CONTROL', subjects: [SUBJECTS.allTrainerControl], retention: 'last-per-subject' },
} as const satisfies Record<string, StreamSpec>;

/** The last token of a job event subject, `job.<id>.<kind>`. */
export type JobEventKind = 'queued' | 'started' | 'progress' | 'checkpoint' | 'completed' | 'failed' | 'cancelled';

/** Every job event kind, in lifecycle order. */
export const JOB_EVENT_KINDS: readonly JobEventKind[] = [
  'queued',
  'started',
  'progress',
  'checkpoint',
  'completed',
  'failed',
  'cancelled',
];

/** Job event kinds after which a job publishes nothing more. */
export const TERMINAL_JOB_EVENT_KINDS: readonly JobEventKind[] = ['completed', 'failed', 'cancelled'];

/** The last token of an evaluation event subject, `eval.<id>.<kind>`. */
export type EvaluationEventKind = 'progress' | 'completed' | 'failed' | 'cancelled';

/** Every evaluation event kind. */
export const EVALUATION_EVENT_KINDS: readonly EvaluationEventKind[] = ['progress', 'completed', 'failed', 'cancelled'];

/** An id that cannot be a NATS subject token: it would split the subject or act as a wildcard. */
export class InvalidSubjectTokenError extends Error {
  override readonly name = 'InvalidSubjectTokenError';
  constructor(
    readonly what: string,
    readonly value: string,
  ) {
    super(
      `${what} ${JSON.stringify(value)} cannot be used in a NATS subject (empty, or contains '.', '*', '>' or whitespace)`,
    );
  }
}

// NATS splits subjects on '.', treats '*' and '>' as wildcards and forbids whitespace, so an id with any of them
// would address the wrong subjects; refusing it here is cheaper than debugging a misrouted event.
const UNSAFE_TOKEN = /[.*>\s]/;

function token(what: string, value: string): string {
  if (value.length === 0 || UNSAFE_TOKEN.test(value)) throw new InvalidSubjectTokenError(what, value);
  return value;
}

/** `job.<jobId>.<kind>`. */
export function jobSubject(jobId: string, kind: JobEventKind): string {
  return `job.${token('job id', jobId)}.${kind}`;
}

/** `job.<jobId>.>`: every event of one job. */
export function jobEventsWildcard(jobId: string): string {
  return `job.${token('job id', jobId)}.>`;
}

/** `job.*.<kind>`: one kind of event across all jobs (e.g. every job's `completed`). */
export function allJobsSubject(kind: JobEventKind): string {
  return `job.*.${kind}`;
}

/** `eval.<evaluationId>.<kind>`. */
export function evaluationSubject(evaluationId: string, kind: EvaluationEventKind): string {
  return `eval.${token('evaluation id', evaluationId)}.${kind}`;
}

/** `eval.<evaluationId>.>`: every event of one evaluation. */
export function evaluationEventsWildcard(evaluationId: string): string {
  return `eval.${token('evaluation id', evaluationId)}.>`;
}

/** `trainer.control.<jobId>.cancel`: where a cancel request for a job is published. */
export function jobCancelSubject(jobId: string): string {
  return `trainer.control.${token('job id', jobId)}.cancel`;
}

/** `trainer.node.<nodeId>.heartbeat`. */
export function trainerHeartbeatSubject(nodeId: string): string {
  return `trainer.node.${token('node id', nodeId)}.heartbeat`;
}

/**
 * The JetStream `Nats-Msg-Id` of a job event: JetStream drops a second publish with the same id inside its
 * duplicate window, so a publisher that retries after a timeout stores the event once.
 */
export function jobEventMessageId(jobId: string, sequence: bigint): string {
  return `${token('job id', jobId)}:${sequence.toString()}`;
}

/** The parts of a job event subject. */
export interface ParsedJobSubject {
  readonly jobId: string;
  readonly kind: JobEventKind;
}

/** Splits `job.<id>.<kind>`; undefined for anything else (another family, an unknown kind, a wildcard). */
export function parseJobSubject(subject: string): ParsedJobSubject | undefined {
  const parts = subject.split('.');
  if (parts.length !== 3 || parts[0] !== 'job') return undefined;
  const [, jobId, kind] = parts;
  if (jobId === undefined || kind === undefined || jobId === '*' || jobId === '>' || jobId.length === 0)
    return undefined;
  return isJobEventKind(kind) ? { jobId, kind } : undefined;
}

/** The parts of an evaluation event subject. */
export interface ParsedEvaluationSubject {
  readonly evaluationId: string;
  readonly kind: EvaluationEventKind;
}

/** Splits `eval.<id>.<kind>`; undefined for anything else. */
export function parseEvaluationSubject(subject: string): ParsedEvaluationSubject | undefined {
  const parts = subject.split('.');
  if (parts.length !== 3 || parts[0] !== 'eval') return undefined;
  const [, evaluationId, kind] = parts;
  if (evaluationId === undefined || kind === undefined || evaluationId === '*' || evaluationId === '>')
    return undefined;
  if (evaluationId.length === 0) return undefined;
  return (EVALUATION_EVENT_KINDS as readonly string[]).includes(kind)
    ? { evaluationId, kind: kind as EvaluationEventKind }
    : undefined;
}

function isJobEventKind(kind: string): kind is JobEventKind {
  return (JOB_EVENT_KINDS as readonly string[]).includes(kind);
}
