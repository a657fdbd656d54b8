// One trace per request across gateway → gRPC → NATS → trainer node (issue 9, observability): a GraphQL
// createFineTuneJob is a SERVER span in the gateway; the trainer service's CreateFineTuneJob span descends from
// it; the work item it publishes carries the trace context in its NATS headers; the node that trains the job
// runs it in a CONSUMER span continuing that trace, under which the node's gRPC calls to the dataset service
// and its job events (NATS PRODUCER spans) sit. Real nats-server, services and node, in-memory span exporter.
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  installMemoryTracing,
  isDescendant,
  type MemoryTracing,
  type ReadableSpan,
  SpanKind,
} from '../packages/kit/src/testing/index.js';
import type { GraphQLResult } from '../services/gateway/src/index.js';
import { startTestMesh, type TestMesh } from './support/mesh.js';

let tracing: MemoryTracing;
let mesh: TestMesh<'dataset' | 'trainer' | 'gateway'>;
let tmp: string;

beforeAll(async () => {
  tracing = installMemoryTracing();
  mesh = await startTestMesh({
    name: 'tm-gateway-trace-',
    services: ['dataset', 'trainer', 'gateway'],
    node: { nodeId: 'node-t', threads: 1 },
    env: { gateway: { GATEWAY_DEV_MODE: 'true' } },
  });
  ({ tmp } = mesh);
}, 90_000);

afterAll(async () => {
  await mesh?.close();
  await tracing?.shutdown();
});

async function graphql(query: string, variables: Record<string, unknown> = {}): Promise<GraphQLResult> {
  const result = await mesh.graphql(query, variables);
  expect(result.errors, JSON.stringify(result.errors)).toBeUndefined();
  return result;
}

function field<T>(result: GraphQLResult, name: string): T {
  const value = result.data?.[name];
  if (value === undefined || value === null) throw new Error(`no ${name} in ${JSON.stringify(result)}`);
  return value as T;
}

it('createFineTuneJob is one trace from the gateway through the trainer service and NATS to the trainer node', async () => {
  const imported = await graphql(
    `mutation { importDataset(input: {name: "chat", path: "${join(tmp, 'data', 'chat.jsonl')}", format: CHAT, validationSplit: 0.2, seed: 42}) { dataset { id } } }`,
  );
  const datasetId = field<{ dataset: { id: string } }>(imported, 'importDataset').dataset.id;
  const registered = await graphql(
    `mutation { registerBaseModel(input: {name: "tiny", path: "${join(tmp, 'models', 'tiny')}"}) { id } }`,
  );
  const baseModelId = field<{ id: string }>(registered, 'registerBaseModel').id;
  tracing.reset();
  const created = await graphql(
    `mutation CreateTraced($input: CreateFineTuneJobInput!) { createFineTuneJob(input: $input) { id } }`,
    {
      input: {
        baseModelId,
        datasetId,
        method: { lora: { r: 4, dropout: 0 } },
        hyperparameters: { maxSteps: 2, learningRate: 0.001, batchSize: 4, maxSeqLength: 64 },
        idempotencyKey: 'trace-1',
      },
    },
  );
  const jobId = field<{ id: string }>(created, 'createFineTuneJob').id;

  // The node's span ends when the job has ended.
  const deadline = Date.now() + 30_000;
  let nodeSpan: ReadableSpan | undefined;
  while (nodeSpan === undefined && Date.now() < deadline) {
    nodeSpan = tracing.spans().find((s) => s.name === `train ${jobId}`);
    if (nodeSpan === undefined) await new Promise((r) => setTimeout(r, 100));
  }
  const spans = tracing.spans();
  const gatewaySpan = spans.find((s) => s.kind === SpanKind.SERVER && s.name === 'graphql mutation CreateTraced');
  expect(gatewaySpan).toBeDefined();
  expect(nodeSpan, 'the trainer node span').toBeDefined();
  if (gatewaySpan === undefined || nodeSpan === undefined) return;
  const traceId = gatewaySpan.spanContext().traceId;
  const inTrace = spans.filter((s) => s.spanContext().traceId === traceId);
  const under = (s: ReadableSpan | undefined, ancestor: ReadableSpan) =>
    s !== undefined && isDescendant(inTrace, s, ancestor);

  const create = inTrace.find(
    (s) => s.kind === SpanKind.SERVER && s.name === 'tunemesh.v1.TrainerService/CreateFineTuneJob',
  );
  expect(under(create, gatewaySpan), 'trainer CreateFineTuneJob under the gateway span').toBe(true);
  const publishWork = inTrace.find((s) => s.kind === SpanKind.PRODUCER && /^publish work\.train$/.test(s.name));
  expect(publishWork, JSON.stringify(inTrace.map((s) => s.name))).toBeDefined();
  if (create === undefined || publishWork === undefined) return;
  expect(under(publishWork, create), 'the work item publish under CreateFineTuneJob').toBe(true);

  // Across NATS: the node's span is a CONSUMER child of the publish, in the same trace.
  expect(nodeSpan.kind).toBe(SpanKind.CONSUMER);
  expect(nodeSpan.spanContext().traceId).toBe(traceId);
  expect(nodeSpan.parentSpanContext?.spanId).toBe(publishWork.spanContext().spanId);
  expect(nodeSpan.attributes['tunemesh.job.outcome']).toBe('ended');
  // The node's own work joins it: the dataset stream it trains from and its job events.
  const streamRows = inTrace.filter(
    (s) => s.kind === SpanKind.SERVER && s.name.startsWith('tunemesh.v1.DatasetService/') && under(s, nodeSpan),
  );
  expect(streamRows.length, 'dataset calls of the node in the trace').toBeGreaterThan(0);
  const events = inTrace.filter(
    (s) => s.kind === SpanKind.PRODUCER && s.name.startsWith(`publish job.${jobId}.`) && under(s, nodeSpan),
  );
  expect(events.map((s) => s.name)).toEqual(
    expect.arrayContaining([`publish job.${jobId}.started`, `publish job.${jobId}.completed`]),
  );
}, 60_000);
