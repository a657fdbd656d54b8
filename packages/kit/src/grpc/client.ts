// gRPC clients for service-to-service calls: trace context injected, a default deadline on every call, and
// retries with backoff for methods the proto marks idempotent (idempotency_level) or calls that pass retry: true.
import {
  type Channel,
  type Client,
  type CompatServiceDefinition,
  createChannel,
  createClientFactory,
  Status,
} from 'nice-grpc';
import { type DeadlineOptions, deadlineMiddleware } from 'nice-grpc-client-middleware-deadline';
import { type RetryOptions, retryMiddleware } from 'nice-grpc-client-middleware-retry';
import { quietGrpcJsLogs } from './grpc-js-logs.js';
import { clientTracingMiddleware } from './trace-metadata.js';

export type ServiceClient<D extends CompatServiceDefinition> = Client<D, DeadlineOptions & RetryOptions>;

export interface ClientOptions {
  /** Component name for client spans, e.g. "gateway". */
  component: string;
  /** Per-call deadline when a call sets none. */
  defaultDeadlineMs?: number;
  /** Attempts after the first one, for retryable calls. */
  retryMaxAttempts?: number;
}

export interface GrpcChannel {
  channel: Channel;
  close(): void;
}

export function openChannel(address: string): GrpcChannel {
  quietGrpcJsLogs();
  const channel = createChannel(address);
  return { channel, close: () => channel.close() };
}

export function createServiceClient<D extends CompatServiceDefinition>(
  definition: D,
  channel: Channel,
  options: ClientOptions,
): ServiceClient<D> {
  const deadlineMs = options.defaultDeadlineMs ?? 10_000;
  // Order: tracing outermost (one CLIENT span covers every attempt), then retry, then a deadline per attempt.
  const factory = createClientFactory()
    .use(clientTracingMiddleware(options.component))
    .use(retryMiddleware)
    .use(deadlineMiddleware);
  return factory.create(definition, channel, {
    '*': {
      deadline: deadlineMs,
      retryMaxAttempts: options.retryMaxAttempts ?? 3,
      retryableStatuses: [Status.UNAVAILABLE, Status.RESOURCE_EXHAUSTED],
    },
  }) as ServiceClient<D>;
}
