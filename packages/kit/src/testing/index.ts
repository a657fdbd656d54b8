// @tunemesh/kit/testing: what tests need to run the real thing (NATS, services, traces) and clean up after.

// Re-exported so tests outside the kit's dependency tree (tests/) can name span kinds and span types.
export { SpanKind } from '@opentelemetry/api';
export type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
export { type LocalNatsServer, startNatsServerBinary } from '../nats/local-server.js';
export * from './child-process.js';
export * from './nats.js';
export * from './ports.js';
export * from './tracing.js';
