// Declaring the mesh's JetStream streams from their specs in @tunemesh/proto (subjects.ts: STREAMS), which is
// where stream names and subjects are spelled once. The kit adds the storage policy each retention kind needs.
import { AckPolicy, DiscardPolicy, type JetStreamManager, RetentionPolicy, StorageType } from 'nats';
import { type ConsumerDeclaration, ensureConsumer, ensureStream, type StreamDeclaration } from './streams.js';

/** The shape of proto's StreamSpec, repeated here so the kit does not depend on proto. */
export interface StreamSpecLike {
  readonly name: string;
  readonly subjects: readonly string[];
  readonly retention: 'limits' | 'workqueue' | 'last-per-subject';
}

const SECOND_NS = 1_000_000_000;
const DAY_NS = 24 * 60 * 60 * SECOND_NS;

/** How long event history is kept, so a late subscriber (a resumed subscription) can replay a job's progress. */
export const EVENT_HISTORY_DAYS = 30;

export function streamDeclaration(spec: StreamSpecLike): StreamDeclaration {
  const common = {
    name: spec.name,
    subjects: [...spec.subjects],
    storage: StorageType.File,
    discard: DiscardPolicy.Old,
    // Publishers set Nats-Msg-Id; a retried publish inside this window is stored once.
    duplicate_window: 2 * 60 * SECOND_NS,
  };
  switch (spec.retention) {
    case 'limits':
      return { ...common, retention: RetentionPolicy.Limits, max_age: EVENT_HISTORY_DAYS * DAY_NS };
    case 'workqueue':
      return { ...common, retention: RetentionPolicy.Workqueue };
    case 'last-per-subject':
      return { ...common, retention: RetentionPolicy.Limits, max_msgs_per_subject: 1 };
  }
}

export async function declareStreams(jsm: JetStreamManager, specs: readonly StreamSpecLike[]): Promise<void> {
  for (const spec of specs) await ensureStream(jsm, streamDeclaration(spec));
}

/**
 * A durable pull consumer for a work queue shared by worker nodes: explicit acks, redelivered when a node stops
 * acknowledging (a long job sends working acks to keep it), never given up on.
 */
export function workQueueConsumer(durableName: string, ackWaitSeconds = 120): ConsumerDeclaration {
  return {
    durable_name: durableName,
    ack_policy: AckPolicy.Explicit,
    ack_wait: ackWaitSeconds * SECOND_NS,
    max_deliver: -1,
  };
}

export async function declareWorkQueueConsumer(
  jsm: JetStreamManager,
  stream: string,
  durableName: string,
): Promise<void> {
  await ensureConsumer(jsm, stream, workQueueConsumer(durableName));
}
