// The whole mesh on one machine: a real nats-server with JetStream and the four services in-process on free
// ports; gRPC health of each, one GraphQL query through the gateway that reaches every service, one trace from
// the gateway into every service, UNIMPLEMENTED surfacing as NOT_IMPLEMENTED, and graphql-ws on the same port.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkHealth, type MeshServiceHandle, openChannel } from '../packages/kit/src/index.js';
import {
  installMemoryTracing,
  isDescendant,
  type MemoryTracing,
  type ReadableSpan,
  SpanKind,
} from '../packages/kit/src/testing/index.js';
import { executeOverWebSocket, type GatewayHandle, type GraphQLResult } from '../services/gateway/src/index.js';
import { startTestMesh, type TestMesh } from './support/mesh.js';

let tracing: MemoryTracing;
let mesh: TestMesh<'dataset' | 'trainer' | 'evaluator' | 'gateway'>;
let services: MeshServiceHandle[] = [];
let gateway: GatewayHandle;

beforeAll(async () => {
  tracing = installMemoryTracing();
  // Each service keeps its store in the mesh's fresh folder, so each run starts with no datasets, base models,
  // jobs or evaluations. No models or data: nothing here trains.
  mesh = await startTestMesh({
    name: 'tm-mesh-',
    services: ['dataset', 'trainer', 'evaluator', 'gateway'],
    models: {},
    data: [],
    // This suite checks the mesh, not auth (tests/gateway-auth.test.ts does).
    env: { gateway: { GATEWAY_DEV_MODE: 'true' } },
  });
  services = [mesh.dataset, mesh.trainer, mesh.evaluator];
  gateway = mesh.gateway;
});

afterAll(async () => {
  await mesh?.close();
  await tracing?.shutdown();
});

function graphql(query: string, headers: Record<string, string> = {}): Promise<GraphQLResult> {
  return mesh.graphql(query, {}, headers);
}

const MESH_QUERY = /* GraphQL */ `
  query MeshCheck {
    health {
      status
      components {
        name
        status
        error
      }
    }
    datasets(first: 5) {
      edges {
        cursor
      }
    }
    fineTuneJobs(first: 5) {
      edges {
        cursor
      }
    }
    evaluations(first: 5) {
      edges {
        cursor
      }
    }
  }
`;

describe('mesh', () => {
  it('serves gRPC health from every service', async () => {
    const names = ['tunemesh.v1.DatasetService', 'tunemesh.v1.TrainerService', 'tunemesh.v1.EvaluatorService'];
    for (const [i, service] of services.entries()) {
      const channel = openChannel(service.address);
      try {
        expect((await checkHealth(channel.channel, { component: 'test' })).status).toBe('SERVING');
        expect((await checkHealth(channel.channel, { component: 'test', service: names[i] })).status).toBe('SERVING');
      } finally {
        channel.close();
      }
    }
  });

  it('answers one GraphQL query that reaches every service, in one trace', async () => {
    tracing.reset();
    const result = await graphql(MESH_QUERY);

    expect(result.data?.health).toEqual({
      status: 'SERVING',
      components: ['gateway', 'dataset', 'trainer', 'evaluator', 'nats'].map((name) => ({
        name,
        status: 'SERVING',
        error: null,
      })),
    });

    // ListDatasets (issue 6), ListFineTuneJobs (issue 7) and ListEvaluations (issue 8) are built: no errors.
    const errors = result.errors ?? [];
    expect(errors).toEqual([]);
    expect(result.data?.datasets).toEqual({ edges: [] });
    expect(result.data?.fineTuneJobs).toEqual({ edges: [] });
    expect(result.data?.evaluations).toEqual({ edges: [] });
    expect(JSON.stringify(errors)).not.toMatch(/stack|127\.0\.0\.1/);

    const spans = tracing.spans();
    const root = spans.find((s) => s.kind === SpanKind.SERVER && s.name === 'graphql query MeshCheck');
    expect(root).toBeDefined();
    const traceId = root?.spanContext().traceId;
    const serverSpan = (name: string): ReadableSpan | undefined =>
      spans.find((s) => s.kind === SpanKind.SERVER && s.name === name && s.spanContext().traceId === traceId);
    for (const name of [
      'grpc.health.v1.Health/Check',
      'tunemesh.v1.DatasetService/ListDatasets',
      'tunemesh.v1.TrainerService/ListFineTuneJobs',
      'tunemesh.v1.EvaluatorService/ListEvaluations',
    ]) {
      const span = serverSpan(name);
      expect(span, name).toBeDefined();
      expect(span && root && isDescendant(spans, span, root), `${name} descends from the gateway span`).toBe(true);
    }
    // Health checks of all three services joined the same trace.
    const healthChecks = spans.filter(
      (s) =>
        s.kind === SpanKind.SERVER && s.name === 'grpc.health.v1.Health/Check' && s.spanContext().traceId === traceId,
    );
    expect(healthChecks).toHaveLength(3);
  });

  it("continues a caller's W3C trace context", async () => {
    tracing.reset();
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    await graphql('{ datasets { edges { cursor } } }', { traceparent: `00-${traceId}-00f067aa0ba902b7-01` });
    const serviceSpan = tracing.spans().find((s) => s.name === 'tunemesh.v1.DatasetService/ListDatasets');
    expect(serviceSpan?.spanContext().traceId).toBe(traceId);
  });

  it('maps bad input and unknown fields to BAD_USER_INPUT', async () => {
    const tooMany = await graphql('{ datasets(first: 1000) { edges { cursor } } }');
    expect(tooMany.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    const unknown = await graphql('{ nope }');
    expect(unknown.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
  });

  it('accepts graphql-ws connections on the same port and path', async () => {
    const result = await executeOverWebSocket(gateway.wsUrl, { query: '{ health { status } }' });
    expect(result).toEqual({ data: { health: { status: 'SERVING' } } });
    const jobs = await executeOverWebSocket(gateway.wsUrl, { query: '{ fineTuneJobs { edges { cursor } } }' });
    expect(jobs).toEqual({ data: { fineTuneJobs: { edges: [] } } });
    const failing = await executeOverWebSocket(gateway.wsUrl, { query: '{ nope }' });
    expect(failing.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
  });
});
