// @tunemesh/kit: what every tunemesh service shares.
export * from './config.js';
export * from './errors.js';
export * from './grpc/client.js';
export * from './grpc/error-mapping.js';
export * from './grpc/server.js';
export * from './grpc/terminator.js';
export * from './grpc/trace-metadata.js';
export * from './grpc/unimplemented.js';
export * from './logger.js';
export * from './nats/connect.js';
export * from './nats/events.js';
export * from './nats/local-server.js';
export * from './nats/mesh-streams.js';
export * from './nats/streams.js';
export * from './process.js';
export * from './telemetry.js';
