// The life of a gRPC service process in one place: connect to NATS and declare its streams, serve gRPC with
// health, and stop in order (gRPC first so no call publishes into a closed connection, then NATS).
import type { JetStreamManager } from 'nats';
import type { ServiceConfig } from './config.js';
import { type GrpcServer, startGrpcServer } from './grpc/server.js';
import { createLogger, type Logger } from './logger.js';
import { connectNats, type NatsHandle } from './nats/connect.js';

export interface MeshServiceOptions {
  /** Component name, e.g. "dataset". */
  name: string;
  config: ServiceConfig;
  /** Defaults to a logger at config.logLevel. */
  logger?: Logger;
  /** Fully-qualified gRPC service names this process serves (reported by health). */
  serviceNames: readonly string[];
  declareStreams(jsm: JetStreamManager): Promise<void>;
  register(server: GrpcServer, nats: NatsHandle): void;
}

export interface MeshServiceHandle {
  name: string;
  port: number;
  /** host:port to dial from this machine. */
  address: string;
  nats: NatsHandle;
  stop(): Promise<void>;
}

export async function startMeshService(options: MeshServiceOptions): Promise<MeshServiceHandle> {
  const { config } = options;
  const logger = options.logger ?? createLogger(options.name, config.logLevel);
  const nats = await connectNats({ servers: config.natsUrl, name: `tunemesh-${options.name}`, logger });
  try {
    await options.declareStreams(nats.jsm);
    const grpc = await startGrpcServer({
      name: options.name,
      host: config.host,
      port: config.port,
      logger,
      serviceNames: options.serviceNames,
      shutdownTimeoutMs: config.shutdownTimeoutMs,
      register: (server) => options.register(server, nats),
    });
    let stopping: Promise<void> | undefined;
    return {
      name: options.name,
      port: grpc.port,
      address: grpc.address,
      nats,
      stop() {
        stopping ??= grpc.shutdown().finally(() => nats.close());
        return stopping;
      },
    };
  } catch (err) {
    await nats.close();
    throw err;
  }
}
