// The one gRPC server bootstrap every service uses: grpc.health.v1, tracing, call logging, the error table,
// shutdown that stops accepting, ends streams and waits for unary calls (then forces after a timeout).
import { createServer, type Server } from 'nice-grpc';
import { HealthDefinition, HealthServiceImpl, HealthState } from 'nice-grpc-server-health';
import { StartupError } from '../errors.js';
import type { Logger } from '../logger.js';
import { errorMappingMiddleware } from './error-mapping.js';
import { quietGrpcJsLogs } from './grpc-js-logs.js';
import { callLoggingMiddleware } from './logging.js';
import { createTerminator, type TerminatorContext } from './terminator.js';
import { serverTracingMiddleware } from './trace-metadata.js';

export type GrpcServer = Server<TerminatorContext>;

export interface GrpcServerOptions {
  /** Component name for spans and logs, e.g. "dataset". */
  name: string;
  host: string;
  port: number;
  logger: Logger;
  /** Adds the service implementations; `server.add(Definition, impl)`. */
  register(server: GrpcServer): void;
  /** Fully-qualified service names reported by health checks (the empty name, the whole server, always is). */
  serviceNames: readonly string[];
  /** Longest wait for calls in flight at shutdown before they are cancelled. */
  shutdownTimeoutMs?: number;
}

export interface GrpcServerHandle {
  /** The bound port (differs from the requested one when that was 0). */
  port: number;
  /** host:port a client on this machine can dial. */
  address: string;
  health: HealthState;
  shutdown(): Promise<void>;
}

const MAX_MESSAGE_BYTES = 64 * 1024 * 1024;

export async function startGrpcServer(options: GrpcServerOptions): Promise<GrpcServerHandle> {
  quietGrpcJsLogs();
  const { logger } = options;
  const terminator = createTerminator();
  const server: GrpcServer = createServer({
    'grpc.max_receive_message_length': MAX_MESSAGE_BYTES,
    'grpc.max_send_message_length': MAX_MESSAGE_BYTES,
  })
    .use(terminator.middleware)
    .use(serverTracingMiddleware(options.name))
    .use(callLoggingMiddleware(logger))
    .use(errorMappingMiddleware(logger));

  const health = HealthState();
  server.add(HealthDefinition, HealthServiceImpl(health));
  options.register(server);

  let port: number;
  try {
    port = await server.listen(`${options.host}:${options.port}`);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    if (message.includes('EADDRINUSE')) {
      throw new StartupError(
        `${options.name}: port ${options.port} is already in use on ${options.host}: stop the process using it or set PORT to a free port`,
        { cause: err },
      );
    }
    if (message.includes('EACCES')) {
      throw new StartupError(`${options.name}: not allowed to listen on port ${options.port}: use a port above 1023`, {
        cause: err,
      });
    }
    throw new StartupError(`${options.name}: cannot listen on ${options.host}:${options.port}: ${message}`, {
      cause: err,
    });
  }

  health.setStatus('healthy');
  for (const name of options.serviceNames) health.setStatus('healthy', name);
  const dialHost = options.host === '0.0.0.0' || options.host === '::' ? '127.0.0.1' : options.host;
  logger.info({ port }, `${options.name} gRPC server listening`);

  let stopping: Promise<void> | undefined;
  return {
    port,
    address: `${dialHost}:${port}`,
    health,
    shutdown() {
      stopping ??= (async () => {
        health.setStatus('unhealthy');
        for (const name of options.serviceNames) health.setStatus('unhealthy', name);
        terminator.terminate();
        const timeoutMs = options.shutdownTimeoutMs ?? 10_000;
        let timer: NodeJS.Timeout | undefined;
        const timedOut = new Promise<'timeout'>((resolve) => {
          timer = setTimeout(() => resolve('timeout'), timeoutMs);
        });
        const outcome = await Promise.race([server.shutdown().then(() => 'done' as const), timedOut]);
        clearTimeout(timer);
        if (outcome === 'timeout') {
          logger.warn(
            { activeCalls: terminator.activeCalls },
            'calls still running after shutdown timeout: cancelling',
          );
          terminator.abortAll();
          server.forceShutdown();
        }
        logger.info(`${options.name} gRPC server stopped`);
      })();
      return stopping;
    },
  };
}
