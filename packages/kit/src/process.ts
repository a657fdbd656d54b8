// What every service's main.ts does: read config (bad value: one line, exit 2), set up tracing and logging,
// start (a StartupError: one line naming cause and fix, non-zero exit, no stack trace), then on SIGTERM/SIGINT
// stop the service, flush telemetry and exit 0.
import type { LogLevel, TracesExporter } from './config.js';
import { StartupError } from './errors.js';
import { createLogger, type Logger } from './logger.js';
import { setupTelemetry } from './telemetry.js';

export interface RunningService {
  stop(): Promise<void>;
}

export interface ProcessConfig {
  logLevel: LogLevel;
  tracesExporter: TracesExporter;
  /** The collector's OTLP/HTTP base URL, used when tracesExporter is 'otlp'. */
  otlpEndpoint?: string;
  shutdownTimeoutMs: number;
}

export interface RunProcessOptions<C extends ProcessConfig> {
  /** Component name, e.g. "dataset". */
  name: string;
  loadConfig(): C;
  start(config: C, logger: Logger): Promise<RunningService>;
}

function failStartup(line: string, exitCode: number): never {
  process.stderr.write(`${line}\n`);
  process.exit(exitCode);
}

export async function runProcess<C extends ProcessConfig>(options: RunProcessOptions<C>): Promise<void> {
  let config: C;
  try {
    config = options.loadConfig();
  } catch (err) {
    if (err instanceof StartupError) failStartup(`${options.name}: ${err.message}`, err.exitCode);
    throw err;
  }

  const telemetry = setupTelemetry({
    serviceName: `tunemesh-${options.name}`,
    exporter: config.tracesExporter,
    ...(config.otlpEndpoint !== undefined && { otlpEndpoint: config.otlpEndpoint }),
  });
  const logger = createLogger(options.name, config.logLevel);
  process.on('uncaughtException', (err) => {
    logger.fatal({ err }, 'uncaught exception');
    process.exit(1);
  });
  process.on('unhandledRejection', (err) => {
    logger.fatal({ err }, 'unhandled rejection');
    process.exit(1);
  });

  // Signal handlers go in before start(): a SIGTERM that arrives while the service is still starting (its server
  // may already listen while it declares NATS streams) must stop it cleanly, not kill it with the default action.
  let service: RunningService | undefined;
  let stopping = false;
  const shutdown = async (): Promise<void> => {
    try {
      await service?.stop();
      await telemetry.shutdown();
      logger.info('stopped');
      logger.flush();
      process.exit(0);
    } catch (err) {
      logger.error({ err }, 'shutdown failed');
      process.exit(1);
    }
  };
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    stopping = true;
    logger.info({ signal }, 'shutting down');
    // The service has its own timeout for calls in flight; this one guards against anything else hanging.
    const guard = setTimeout(() => {
      logger.error('shutdown did not finish in time: exiting');
      process.exit(1);
    }, config.shutdownTimeoutMs + 5_000);
    guard.unref();
    // While starting, shutdown runs once start() has returned (see below).
    if (service !== undefined) void shutdown();
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);

  try {
    service = await options.start(config, logger);
  } catch (err) {
    await telemetry.shutdown().catch(() => {});
    if (err instanceof StartupError) failStartup(err.message, err.exitCode);
    // A bug rather than an environment problem: still one line on stderr; the detail goes to the log.
    logger.debug({ err }, 'start failed');
    failStartup(`${options.name}: failed to start: ${err instanceof Error ? err.message : String(err)}`, 1);
  }
  if (stopping) void shutdown();
}
