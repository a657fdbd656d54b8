// StreamJobProgress: a job's events after a sequence, replayed from JetStream and then followed live, ending
// after the terminal event (or, with history_only, when the stored history is exhausted).

import {
  decodeJobEvent,
  type JobEventEnvelope,
  jobEventsWildcard,
  STREAMS,
  TERMINAL_JOB_EVENT_KINDS,
} from '@tunemesh/proto';
import { AckPolicy, DeliverPolicy, type JetStreamClient, type JetStreamManager } from 'nats';

export async function* jobEvents(
  js: JetStreamClient,
  jsm: JetStreamManager,
  jobId: string,
  since: bigint,
  historyOnly: boolean,
  signal: AbortSignal,
): AsyncGenerator<JobEventEnvelope> {
  // An ephemeral pull consumer of this job's subjects (nats-server 2.9 serves it; the ordered-consumer API
  // needs newer servers), removed by the server once the stream is idle.
  const info = await jsm.consumers.add(STREAMS.jobEvents.name, {
    filter_subject: jobEventsWildcard(jobId),
    deliver_policy: DeliverPolicy.All,
    ack_policy: AckPolicy.None,
    inactive_threshold: 60 * 1_000_000_000,
  });
  const consumer = await js.consumers.get(STREAMS.jobEvents.name, info.name);
  if (historyOnly && info.num_pending === 0) {
    await jsm.consumers.delete(STREAMS.jobEvents.name, info.name).catch(() => undefined);
    return;
  }
  const messages = await consumer.consume();
  const stop = () => messages.stop();
  signal.addEventListener('abort', stop, { once: true });
  try {
    for await (const msg of messages) {
      const env = decodeJobEvent(msg.subject, msg.data);
      if (env.sequence > since) yield env;
      const kind = env.event?.$case;
      if (kind !== undefined && TERMINAL_JOB_EVENT_KINDS.includes(kind)) return;
      if (historyOnly && msg.info.pending === 0) return;
    }
  } finally {
    signal.removeEventListener('abort', stop);
    messages.stop();
    await jsm.consumers.delete(STREAMS.jobEvents.name, info.name).catch(() => undefined);
  }
}
