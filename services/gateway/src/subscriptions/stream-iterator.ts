// A JetStream ordered consumer as the async iterator graphql-ws drives. Ordered consumers are ephemeral,
// flow-controlled and gap-free (they recreate themselves after a missed message or a reconnect), so each
// subscriber sees every stored message once, in stream order: what "no lost or duplicated event" needs.
import { DeliverPolicy, type JsMsg, type NatsConnection } from 'nats';

export interface StreamReadOptions {
  stream: string;
  filterSubject: string;
  /** All: replay the stored history first; New: only messages published from now on. */
  from: 'all' | 'new';
}

/**
 * Maps each message (undefined: skip it) until `isLast` says the stream of interest has ended. Unsubscribing
 * (return()) stops the consumer at once, even while it waits for the next message.
 */
export function streamIterator<T>(
  nc: NatsConnection,
  options: StreamReadOptions,
  map: (msg: JsMsg) => T | undefined,
  isLast: (value: T) => boolean = () => false,
): AsyncIterableIterator<T> {
  let stop: (() => void) | undefined;
  let stopped = false;
  async function* run(): AsyncGenerator<T> {
    const consumer = await nc.jetstream().consumers.get(options.stream, {
      // One subject as a string: the client then sends filter_subject, which nats-server 2.9 understands (an
      // array becomes filter_subjects, 2.10+ only, and an older server silently delivers nothing).
      filterSubjects: options.filterSubject,
      // An ordered consumer starts at the stream's first message by default; naming DeliverPolicy.All makes
      // nats.js 2.x send it with a start sequence, which the server refuses (and the consumer never starts).
      ...(options.from === 'new' ? { deliver_policy: DeliverPolicy.New } : {}),
    });
    const messages = await consumer.consume();
    stop = () => {
      void messages.close();
    };
    if (stopped) stop();
    try {
      for await (const msg of messages) {
        const value = map(msg);
        if (value === undefined) continue;
        yield value;
        if (isLast(value)) return;
      }
    } finally {
      await messages.close();
    }
  }
  const inner = run();
  return {
    next: () => inner.next(),
    async return() {
      stopped = true;
      stop?.();
      return inner.return(undefined);
    },
    throw: (err: unknown) => inner.throw(err),
    [Symbol.asyncIterator]() {
      return this;
    },
  };
}
