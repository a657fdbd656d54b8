// Against a real nats-server with JetStream: connection errors, idempotent declarations, events with trace
// context in headers.
import { context, SpanKind, trace } from '@opentelemetry/api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StartupError } from '../errors.js';
import { silentLogger } from '../logger.js';
import { tracer } from '../telemetry.js';
import { startTestNats } from '../testing/nats.js';
import { freePort } from '../testing/ports.js';
import { installMemoryTracing, type MemoryTracing } from '../testing/tracing.js';
import { connectNats, type NatsHandle } from './connect.js';
import { consumeEvents, type MessageCodec, publishEvent } from './events.js';
import type { LocalNatsServer } from './local-server.js';
import { declareStreams, declareWorkQueueConsumer, type StreamSpecLike } from './mesh-streams.js';

// The same shapes as @tunemesh/proto's STREAMS (kit does not depend on proto).
const EVENTS: StreamSpecLike = { name: 'TEST_JOB_EVENTS', subjects: ['job.>'], retention: 'limits' };
const WORK: StreamSpecLike = { name: 'TEST_TRAIN_WORK', subjects: ['work.train'], retention: 'workqueue' };
const CONTROL: StreamSpecLike = { name: 'TEST_CONTROL', subjects: ['control.>'], retention: 'last-per-subject' };
const declareAll = () => declareStreams(nats.jsm, [EVENTS, WORK, CONTROL]);

// A stand-in for a ts-proto message: UTF-8 text.
const textCodec: MessageCodec<string> = {
  encode: (s) => ({ finish: () => new TextEncoder().encode(s) }),
  decode: (b) => new TextDecoder().decode(b),
};

let server: LocalNatsServer;
let nats: NatsHandle;
let tracing: MemoryTracing;

beforeAll(async () => {
  tracing = installMemoryTracing();
  server = await startTestNats();
  nats = await connectNats({ servers: [server.url], name: 'kit-test', logger: silentLogger() });
});
afterAll(async () => {
  await nats?.close();
  await server?.stop();
  await tracing?.shutdown();
});

describe('NATS helper', () => {
  it('fails at start with one line naming the URL and the fix', async () => {
    const port = await freePort();
    const err = await connectNats({
      servers: [`nats://127.0.0.1:${port}`],
      name: 'x',
      logger: silentLogger(),
      connectTimeoutMs: 1_000,
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StartupError);
    expect((err as Error).message).toMatch(
      new RegExp(
        `^cannot reach NATS at nats://127.0.0.1:${port} \\(.+\\): start one with 'nats-server -js' or set NATS_URL`,
      ),
    );
    expect((err as Error).message).not.toContain('\n');
  });

  it('declares the mesh streams idempotently, concurrently and repeatedly', async () => {
    await Promise.all([declareAll(), declareAll()]);
    await declareAll();
    await declareWorkQueueConsumer(nats.jsm, WORK.name, 'trainers');
    await declareWorkQueueConsumer(nats.jsm, WORK.name, 'trainers');
    const events = await nats.jsm.streams.info(EVENTS.name);
    expect(events.config.subjects).toEqual(['job.>']);
    expect(events.config.max_age).toBeGreaterThan(0);
    expect((await nats.jsm.streams.info(WORK.name)).config.retention).toBe('workqueue');
    expect((await nats.jsm.streams.info(CONTROL.name)).config.max_msgs_per_subject).toBe(1);
    expect((await nats.jsm.consumers.info(WORK.name, 'trainers')).config.ack_policy).toBe('explicit');
  });

  it('carries protobuf payloads and the trace context through JetStream', async () => {
    await declareAll();
    await nats.jsm.consumers.add(EVENTS.name, { durable_name: 'kit-test', filter_subject: 'job.test.>' });
    const js = nats.nc.jetstream();
    const root = tracer('test').startSpan('producer-root');
    const ack = await context.with(trace.setSpan(context.active(), root), () =>
      publishEvent(js, 'job.test.progress', textCodec, 'step 1'),
    );
    root.end();
    expect(ack.stream).toBe(EVENTS.name);

    const controller = new AbortController();
    const received: { payload: string; traceId: string | undefined }[] = [];
    await consumeEvents(js, {
      stream: EVENTS.name,
      consumer: 'kit-test',
      codec: textCodec,
      signal: controller.signal,
      async handle(event) {
        received.push({ payload: event.payload, traceId: trace.getActiveSpan()?.spanContext().traceId });
        controller.abort();
      },
    });
    expect(received).toEqual([{ payload: 'step 1', traceId: root.spanContext().traceId }]);
    const consumerSpan = tracing.spans().find((s) => s.kind === SpanKind.CONSUMER);
    const producerSpan = tracing.spans().find((s) => s.kind === SpanKind.PRODUCER);
    expect(consumerSpan?.parentSpanContext?.spanId).toBe(producerSpan?.spanContext().spanId);
  });
});
