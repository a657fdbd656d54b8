// Subscription: every field iterates a JetStream ordered consumer (never an in-memory PubSub), so a gateway
// restart loses nothing: the client resubscribes with the last sequence it saw.
import { InvalidSubjectTokenError } from '@tunemesh/proto';
import { GraphQLError } from 'graphql/index.js';
import type { MeshClients } from '../clients.js';
import { badUserInput } from '../errors.js';
import type { SubscriptionResolvers } from '../generated/resolvers-types.js';
import { call } from '../grpc-call.js';
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

/**
 * A job the trainer does not know would wait forever for events: NOT_FOUND instead. Any other failure of the
 * check (trainer busy or restarting) lets the subscription go on: the events come from NATS, not the trainer.
 */
async function refuseUnknownJob(clients: MeshClients, jobId: string, iterator: AsyncIterator<unknown>): Promise<void> {
  try {
    await call(clients.trainer, (o) => clients.trainer.client.getFineTuneJob({ id: jobId }, o));
  } catch (err) {
    if (err instanceof GraphQLError && err.extensions.code === 'NOT_FOUND') {
      await iterator.return?.();
      throw err;
    }
  }
}

export const Subscription: SubscriptionResolvers = {
  trainingProgress: {
    subscribe: async (_parent, { jobId, sinceSequence }, { nats, clients }) => {
      if (sinceSequence < 0n) throw badUserInput('sinceSequence must be non-negative', 'sinceSequence');
      const iterator = subjectSafe('jobId', () => trainingProgress(nats.nc, jobId, sinceSequence));
      await refuseUnknownJob(clients, jobId, iterator);
      return iterator;
    },
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
