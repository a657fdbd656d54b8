// Job events on NATS: one subject per kind (`job.<id>.<kind>`), one sequence per job across all kinds. The
// sequence is read back from JetStream (the newest message of each kind), so whoever publishes next — the
// service on create or cancel, a node on start or after another node died — continues it without a shared
// counter. Nats-Msg-Id "<job>:<sequence>" makes JetStream store a sequence once: when two publishers race for
// the same number, one is told `duplicate` and knows it lost.

import { publishTraced } from '@tunemesh/kit';
import {
  decodeJobEvent,
  encodeJobEvent,
  JOB_EVENT_KINDS,
  type JobEvent,
  type JobEventKind,
  jobSubject,
  STREAMS,
  TYPE_HEADER,
} from '@tunemesh/proto';
import { headers, type JetStreamClient, type JetStreamManager, NatsError } from 'nats';

export interface LastJobEvent {
  readonly sequence: bigint;
  readonly kind: JobEventKind | undefined;
}

/** JetStream "no message found" for a direct get. */
const NO_MESSAGE = 10037;

/** The newest event of a job (sequence 0 and no kind when it has none). */
export async function lastJobEvent(jsm: JetStreamManager, jobId: string): Promise<LastJobEvent> {
  let best: LastJobEvent = { sequence: 0n, kind: undefined };
  for (const kind of JOB_EVENT_KINDS) {
    try {
      const m = await jsm.streams.getMessage(STREAMS.jobEvents.name, { last_by_subj: jobSubject(jobId, kind) });
      const seq = decodeJobEvent(m.subject, m.data).sequence;
      if (seq > best.sequence) best = { sequence: seq, kind };
    } catch (err) {
      if (!(err instanceof NatsError && err.api_error?.err_code === NO_MESSAGE)) throw err;
    }
  }
  return best;
}

/**
 * Publishes one job event; `stored` false when JetStream already held this job's sequence (a lost race). The
 * active trace context goes in the headers (W3C traceparent), so a consumer's span joins the producer's trace.
 */
export async function publishJobEvent(js: JetStreamClient, event: JobEvent): Promise<{ stored: boolean }> {
  const e = encodeJobEvent(event);
  const h = headers();
  h.set(TYPE_HEADER, e.typeName);
  const ack = await publishTraced(js, e.subject, e.data, { headers: h, msgId: e.messageId, component: 'trainer' });
  return { stored: !ack.duplicate };
}
