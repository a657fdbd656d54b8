// One NATS connection per process: reconnects forever with backoff (logging each disconnect and reconnect),
// and a one-line StartupError when NATS cannot be reached at start, or answers without JetStream.
import { connect, type JetStreamManager, type NatsConnection } from 'nats';
import { StartupError } from '../errors.js';
import type { Logger } from '../logger.js';

export interface NatsOptions {
  servers: string[];
  /** Connection name shown by the server's monitoring, e.g. "tunemesh-trainer". */
  name: string;
  logger: Logger;
  /** How long to try at start before giving up. */
  connectTimeoutMs?: number;
}

export interface NatsHandle {
  nc: NatsConnection;
  jsm: JetStreamManager;
  /** Drains subscriptions and closes: pending publishes are flushed first. */
  close(): Promise<void>;
}

export async function connectNats(options: NatsOptions): Promise<NatsHandle> {
  const { logger } = options;
  const where = options.servers.join(',');
  let nc: NatsConnection;
  try {
    nc = await connect({
      servers: options.servers,
      name: options.name,
      timeout: options.connectTimeoutMs ?? 5_000,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 1_000,
      waitOnFirstConnect: false,
    });
  } catch (err) {
    const detail = err instanceof Error && 'code' in err ? String(err.code) : String(err);
    throw new StartupError(
      `cannot reach NATS at ${where} (${detail}): start one with 'nats-server -js' or set NATS_URL to a running server`,
      { cause: err },
    );
  }

  let jsm: JetStreamManager;
  try {
    jsm = await nc.jetstreamManager({ timeout: 5_000 });
  } catch (err) {
    await nc.close();
    throw new StartupError(
      `NATS at ${where} has no JetStream: start it with 'nats-server -js' (or enable jetstream in its config)`,
      { cause: err },
    );
  }

  void (async () => {
    for await (const status of nc.status()) {
      if (status.type === 'disconnect') logger.warn({ server: status.data }, 'NATS disconnected; reconnecting');
      else if (status.type === 'reconnect') logger.info({ server: status.data }, 'NATS reconnected');
      else if (status.type === 'error') logger.error({ error: String(status.data) }, 'NATS error');
      else if (status.type === 'ldm') logger.warn({ server: status.data }, 'NATS server entering lame duck mode');
    }
  })();
  logger.info({ server: nc.getServer() }, 'connected to NATS');

  let closing: Promise<void> | undefined;
  return {
    nc,
    jsm,
    close() {
      closing ??= nc.isClosed() ? Promise.resolve() : nc.drain().catch(() => nc.close());
      return closing;
    },
  };
}
