// @tunemesh/kit/testing: what tests need to run the real thing (NATS, services, traces) and clean up after.
export { type LocalNatsServer, startNatsServerBinary } from '../nats/local-server.js';
export * from './child-process.js';
export * from './nats.js';
export * from './ports.js';
export * from './tracing.js';
