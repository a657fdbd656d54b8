// Protobuf event payloads over JetStream, with the W3C trace context in NATS headers so a consumer's span joins
// the producer's trace.
import {
  type Context,
  context,
  propagation,
  type Span,
  SpanKind,
  SpanStatusCode,
  type TextMapGetter,
  type TextMapSetter,
  trace,
} from '@opentelemetry/api';
import { headers, type JetStreamClient, type JsMsg, type MsgHdrs, type PubAck } from 'nats';
import { tracer } from '../telemetry.js';

/** The part of a ts-proto message type that events need. */
export interface MessageCodec<T> {
  encode(message: T): { finish(): Uint8Array };
  decode(input: Uint8Array): T;
}

export const natsHeaderGetter: TextMapGetter<MsgHdrs> = {
  keys: (carrier) => carrier.keys(),
  get: (carrier, key) => (carrier.has(key) ? carrier.get(key) : undefined),
};

export const natsHeaderSetter: TextMapSetter<MsgHdrs> = {
  set: (carrier, key, value) => carrier.set(key, value),
};

export interface PublishOptions {
  /** JetStream de-duplication id (Nats-Msg-Id): a retried publish with the same id is stored once. */
  msgId?: string;
  /** Component name for the PRODUCER span. */
  component?: string;
}

export async function publishEvent<T>(
  js: JetStreamClient,
  subject: string,
  codec: MessageCodec<T>,
  message: T,
  options: PublishOptions = {},
): Promise<PubAck> {
  return publishTraced(js, subject, codec.encode(message).finish(), options);
}

/**
 * Publishes an encoded payload in a PRODUCER span, adding the W3C trace context to `headers` (created when
 * absent) so the consumer continues the trace; for payloads with headers of their own (a type name).
 */
export async function publishTraced(
  js: JetStreamClient,
  subject: string,
  data: Uint8Array,
  options: PublishOptions & { headers?: MsgHdrs } = {},
): Promise<PubAck> {
  const span = tracer(options.component ?? 'events').startSpan(`publish ${subject}`, {
    kind: SpanKind.PRODUCER,
    attributes: { 'messaging.system': 'nats', 'messaging.destination.name': subject },
  });
  const hdrs = options.headers ?? headers();
  propagation.inject(trace.setSpan(context.active(), span), hdrs, natsHeaderSetter);
  try {
    const ack = await js.publish(subject, data, {
      headers: hdrs,
      ...(options.msgId === undefined ? {} : { msgID: options.msgId }),
    });
    span.setAttribute('messaging.nats.stream_sequence', ack.seq);
    return ack;
  } catch (err) {
    span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.message : String(err) });
    throw err;
  } finally {
    span.end();
  }
}

/** The producer's trace context carried by a message (the active context when it has none). */
export function messageContext(msg: { headers?: MsgHdrs | undefined }): Context {
  return msg.headers === undefined
    ? context.active()
    : propagation.extract(context.active(), msg.headers, natsHeaderGetter);
}

/**
 * Runs `fn` in a CONSUMER span named `name` whose parent is the trace context `msg` carries, so work done for a
 * message (a trainer node's job: its gRPC calls and events) continues the trace of whoever published it.
 */
export async function inMessageSpan<T>(
  msg: { subject: string; headers?: MsgHdrs | undefined },
  name: string,
  component: string,
  fn: (span: Span) => Promise<T>,
): Promise<T> {
  const parent = messageContext(msg);
  const span = tracer(component).startSpan(
    name,
    { kind: SpanKind.CONSUMER, attributes: { 'messaging.system': 'nats', 'messaging.destination.name': msg.subject } },
    parent,
  );
  try {
    return await context.with(trace.setSpan(parent, span), () => fn(span));
  } catch (err) {
    span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.message : String(err) });
    throw err;
  } finally {
    span.end();
  }
}

export interface ReceivedEvent<T> {
  subject: string;
  /** Stream sequence: the resume cursor for replays. */
  sequence: number;
  payload: T;
}

export function decodeEvent<T>(msg: JsMsg, codec: MessageCodec<T>): ReceivedEvent<T> {
  return { subject: msg.subject, sequence: msg.seq, payload: codec.decode(msg.data) };
}

export interface ConsumeOptions<T> {
  stream: string;
  consumer: string;
  codec: MessageCodec<T>;
  component?: string;
  signal?: AbortSignal;
  /** Resolves to acknowledge; throwing redelivers the message later. */
  handle(event: ReceivedEvent<T>): Promise<void>;
}

/** Consumes a durable consumer until `signal` aborts; each message is handled in a CONSUMER span. */
export async function consumeEvents<T>(js: JetStreamClient, options: ConsumeOptions<T>): Promise<void> {
  const consumer = await js.consumers.get(options.stream, options.consumer);
  const messages = await consumer.consume({ max_messages: 1 });
  const stop = () => messages.stop();
  options.signal?.addEventListener('abort', stop, { once: true });
  try {
    for await (const msg of messages) {
      const span = tracer(options.component ?? 'events').startSpan(
        `process ${msg.subject}`,
        {
          kind: SpanKind.CONSUMER,
          attributes: { 'messaging.system': 'nats', 'messaging.destination.name': msg.subject },
        },
        messageContext(msg),
      );
      try {
        await context.with(trace.setSpan(messageContext(msg), span), () =>
          options.handle(decodeEvent(msg, options.codec)),
        );
        msg.ack();
      } catch (err) {
        span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.message : String(err) });
        msg.nak(1_000);
      } finally {
        span.end();
      }
    }
  } finally {
    options.signal?.removeEventListener('abort', stop);
  }
}
