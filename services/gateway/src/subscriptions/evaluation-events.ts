// Evaluation events from JetStream (EVAL_EVENTS, `eval.<id>.<kind>`) as evaluationProgress events.
import {
  EvaluationCancelled,
  EvaluationCompleted,
  EvaluationFailed,
  EvaluationProgress,
  evaluationEventsWildcard,
  parseEvaluationSubject,
  STREAMS,
} from '@tunemesh/proto';
import type { NatsConnection } from 'nats';
import type { EvaluationProgressEvent } from '../generated/resolvers-types.js';
import { metricValues } from '../resolvers/types.js';
import { streamIterator } from './stream-iterator.js';

function toEvent(subject: string, data: Uint8Array): EvaluationProgressEvent | undefined {
  const parsed = parseEvaluationSubject(subject);
  if (parsed === undefined) return undefined;
  const base = { evaluationId: parsed.evaluationId, examplesDone: 0n, examplesTotal: 0n, status: null, metrics: null };
  switch (parsed.kind) {
    case 'progress': {
      const p = EvaluationProgress.decode(data);
      return { ...base, sequence: p.sequence, examplesDone: p.examplesDone, examplesTotal: p.examplesTotal };
    }
    case 'completed': {
      const c = EvaluationCompleted.decode(data);
      return {
        ...base,
        sequence: c.sequence,
        status: 'SUCCEEDED',
        metrics: metricValues(c.metrics.map((m) => ({ ...m, exampleCount: 0n, higherIsBetter: false }))),
      };
    }
    case 'failed':
      return { ...base, sequence: EvaluationFailed.decode(data).sequence, status: 'FAILED' };
    case 'cancelled':
      return { ...base, sequence: EvaluationCancelled.decode(data).sequence, status: 'CANCELLED' };
  }
}

export function evaluationProgress(
  nc: NatsConnection,
  evaluationId: string,
): AsyncIterableIterator<EvaluationProgressEvent> {
  return streamIterator(
    nc,
    { stream: STREAMS.evaluationEvents.name, filterSubject: evaluationEventsWildcard(evaluationId), from: 'all' },
    (msg) => {
      try {
        return toEvent(msg.subject, msg.data);
      } catch {
        return undefined; // a malformed payload is skipped, as for job events
      }
    },
    (event) => event.status !== null,
  );
}
