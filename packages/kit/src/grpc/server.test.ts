// One conformance suite for the bootstrap every service uses: health, trace propagation through metadata, the
// error table on the wire, port-in-use, and shutdown ending streams.
import { context, SpanKind, trace } from '@opentelemetry/api';
import { ClientError, type Metadata, Status } from 'nice-grpc';
import { HealthDefinition } from 'nice-grpc-server-health';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { NotFoundError, StartupError } from '../errors.js';
import { silentLogger } from '../logger.js';
import { tracer } from '../telemetry.js';
import { installMemoryTracing, isDescendant, type MemoryTracing } from '../testing/tracing.js';
import { createServiceClient, type GrpcChannel, openChannel } from './client.js';
import { ERROR_TRAILERS } from './error-mapping.js';
import { type GrpcServerHandle, startGrpcServer } from './server.js';
import { unimplementedService } from './unimplemented.js';

// A service under test built from grpc.health.v1's messages, so this suite needs nothing from proto/.
const TEST_SERVICE = {
  name: 'Probe',
  fullName: 'tunemesh.test.Probe',
  methods: { check: HealthDefinition.methods.check, watch: HealthDefinition.methods.watch },
} as const;
const SERVING = 1; // grpc.health.v1 HealthCheckResponse.ServingStatus.SERVING

let tracing: MemoryTracing;
const cleanups: (() => Promise<void> | void)[] = [];

beforeAll(() => {
  tracing = installMemoryTracing();
});
afterAll(async () => {
  await tracing.shutdown();
});
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  tracing.reset();
});

async function serve(register: Parameters<typeof startGrpcServer>[0]['register'], port = 0): Promise<GrpcServerHandle> {
  const handle = await startGrpcServer({
    name: 'test',
    host: '127.0.0.1',
    port,
    logger: silentLogger(),
    register,
    serviceNames: [],
    shutdownTimeoutMs: 2_000,
  });
  cleanups.push(() => handle.shutdown());
  return handle;
}

function client(handle: GrpcServerHandle) {
  const ch: GrpcChannel = openChannel(handle.address);
  cleanups.push(() => ch.close());
  return createServiceClient(TEST_SERVICE, ch.channel, { component: 'test-client', defaultDeadlineMs: 5_000 });
}

function healthClient(handle: GrpcServerHandle) {
  const ch: GrpcChannel = openChannel(handle.address);
  cleanups.push(() => ch.close());
  return createServiceClient(HealthDefinition, ch.channel, { component: 'test-client' });
}

describe('gRPC server bootstrap', () => {
  it('serves grpc.health.v1 for the whole server', async () => {
    const handle = await serve(() => {});
    const res = await healthClient(handle).check({ service: '' });
    expect(res.status).toBe(SERVING);
  });

  it('continues the caller trace: the server span is a child of the client span', async () => {
    let seenTraceId: string | undefined;
    const handle = await serve((server) =>
      server.add(TEST_SERVICE, {
        ...unimplementedService(TEST_SERVICE, 'test'),
        async check() {
          seenTraceId = trace.getActiveSpan()?.spanContext().traceId;
          return { status: SERVING };
        },
      }),
    );
    const root = tracer('test').startSpan('root');
    await context.with(trace.setSpan(context.active(), root), () => client(handle).check({ service: 'x' }));
    root.end();

    const spans = tracing.spans();
    const serverSpan = spans.find((s) => s.kind === SpanKind.SERVER);
    const clientSpan = spans.find((s) => s.kind === SpanKind.CLIENT);
    expect(serverSpan?.name).toBe('tunemesh.test.Probe/Check');
    expect(serverSpan?.spanContext().traceId).toBe(root.spanContext().traceId);
    expect(seenTraceId).toBe(root.spanContext().traceId);
    expect(serverSpan?.parentSpanContext?.spanId).toBe(clientSpan?.spanContext().spanId);
    expect(serverSpan && isDescendant(spans, serverSpan, spans.find((s) => s.name === 'root') ?? serverSpan)).toBe(
      true,
    );
  });

  it('maps domain errors to status codes with their type in trailers', async () => {
    const handle = await serve((server) =>
      server.add(TEST_SERVICE, {
        ...unimplementedService(TEST_SERVICE, 'test'),
        async check() {
          throw new NotFoundError('dataset ds_1 does not exist');
        },
      }),
    );
    let trailer: Metadata | undefined;
    const err = await client(handle)
      .check({ service: '' }, { onTrailer: (t) => (trailer = t) })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ClientError);
    expect((err as ClientError).code).toBe(Status.NOT_FOUND);
    expect((err as ClientError).details).toBe('dataset ds_1 does not exist');
    expect(trailer?.get(ERROR_TRAILERS.code)).toBe('NOT_FOUND');
    expect(trailer?.get(ERROR_TRAILERS.retryable)).toBe('false');
  });

  it('answers INTERNAL for a bug without leaking it', async () => {
    const handle = await serve((server) =>
      server.add(TEST_SERVICE, {
        ...unimplementedService(TEST_SERVICE, 'test'),
        async check() {
          throw new Error('secret path /var/lib/tunemesh/db.sqlite');
        },
      }),
    );
    const err = (await client(handle)
      .check({ service: '' })
      .catch((e: unknown) => e)) as ClientError;
    expect(err.code).toBe(Status.INTERNAL);
    expect(err.details).toMatch(/^internal error/);
    expect(err.details).not.toContain('secret');
  });

  it('answers UNIMPLEMENTED naming the method and the plan', async () => {
    const handle = await serve((server) => server.add(TEST_SERVICE, unimplementedService(TEST_SERVICE, 'issue 42')));
    const err = (await client(handle)
      .check({ service: '' })
      .catch((e: unknown) => e)) as ClientError;
    expect(err.code).toBe(Status.UNIMPLEMENTED);
    expect(err.details).toBe('tunemesh.test.Probe/Check is not implemented yet (planned in issue 42)');
  });

  it('fails with one line naming the port when it is taken', async () => {
    const first = await serve(() => {});
    const err = await serve(() => {}, first.port).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StartupError);
    expect((err as Error).message).toBe(
      `test: port ${first.port} is already in use on 127.0.0.1: stop the process using it or set PORT to a free port`,
    );
  });

  it('ends server streams on shutdown instead of waiting for them', async () => {
    const handle = await serve(() => {});
    const watch = healthClient(handle).watch({ service: '' }, { deadline: undefined });
    const first = await watch[Symbol.asyncIterator]().next();
    expect(first.value?.status).toBe(SERVING);
    const started = Date.now();
    await handle.shutdown();
    expect(Date.now() - started).toBeLessThan(1_500);
  });
});
