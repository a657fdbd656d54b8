// Subscription: every field iterates a JetStream ordered consumer (never an in-memory PubSub), so a gateway
// restart loses nothing: the client resubscribes with the last sequence it saw.
import { InvalidSubjectTokenError } from '@tunemesh/proto';
import { badUserInput } from '../errors.js';
import type { SubscriptionResolvers } from '../generated/resolvers-types.js';
import { evaluationProgress } from '../subscriptions/evaluation-events.js';
import { jobStatusChanges, trainingProgress } from '../subscriptions/job-events.js';

/** An id that cannot be a NATS subject token is a client's mistake, not an internal error. */
function subjectSafe<T>(argument: string, open: () => T): T {
  try {
    return open();
  } catch (err) {
    if (err instanceof InvalidSubjectTokenError) throw badUserInput(err.message, argument);
    throw err;
  }
}

export const Subscription: SubscriptionResolvers = {
  trainingProgress: {
    subscribe: (_parent, { jobId, sinceSequence }, { nats }) =>
      subjectSafe('jobId', () => {
        if (sinceSequence < 0n) throw badUserInput('sinceSequence must be non-negative', 'sinceSequence');
        return trainingProgress(nats.nc, jobId, sinceSequence);
      }),
    resolve: (event: Awaited<ReturnType<ReturnType<typeof trainingProgress>['next']>>['value']) => event,
  },
  jobStatusChanged: {
    subscribe: (_parent, { jobId }, { nats }) =>
      subjectSafe('jobId', () => jobStatusChanges(nats.nc, jobId ?? undefined)),
    resolve: (event: Awaited<ReturnType<ReturnType<typeof jobStatusChanges>['next']>>['value']) => event,
  },
  evaluationProgress: {
    subscribe: (_parent, { evaluationId }, { nats }) =>
      subjectSafe('evaluationId', () => evaluationProgress(nats.nc, evaluationId)),
    resolve: (event: Awaited<ReturnType<ReturnType<typeof evaluationProgress>['next']>>['value']) => event,
  },
};
