// The Prometheus endpoint: request and error counters, the open-subscription gauge, job counts by status from
// the trainer, and training tokens/s from real progress events on NATS.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectNats, type NatsHandle, ServerError, Status, silentLogger } from '../packages/kit/src/index.js';
import { encodeJobEvent, JobStatus } from '../proto/src/index.js';
import { subscribeOverWebSocket } from '../services/gateway/src/index.js';
import { type GatewayHarness, startGatewayHarness } from './gateway/harness.js';

let h: GatewayHarness;
let publisher: NatsHandle;

beforeAll(async () => {
  h = await startGatewayHarness();
  publisher = await connectNats({ servers: [h.nats.url], name: 'test-metrics', logger: silentLogger() });
});
afterAll(async () => {
  await publisher?.close();
  await h?.stop();
});

async function scrape(): Promise<string> {
  const res = await fetch(h.gateway.url.replace('/graphql', '/metrics'));
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toContain('text/plain');
  return res.text();
}

function value(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('/metrics', () => {
  it('counts requests and errors by code', async () => {
    h.program('trainer', {
      getFineTuneJob: () => {
        throw new ServerError(Status.NOT_FOUND, 'no job');
      },
    });
    await h.graphql('{ methods { key } }');
    await h.graphql('{ fineTuneJob(id: "x") { id } }');
    const text = await scrape();
    expect(value(text, 'tunemesh_gateway_requests_total{transport="http",operation="query"}')).toBe(2);
    expect(value(text, 'tunemesh_gateway_errors_total{code="NOT_FOUND"}')).toBe(1);
  });

  it('reports job counts only when the trainer can count them', async () => {
    h.program('trainer', {});
    expect(await scrape()).not.toMatch(/^tunemesh_jobs\{/m);
    h.program('trainer', {
      listFineTuneJobs: (req: { statuses: JobStatus[] }) => ({
        jobs: [],
        page: { nextPageToken: '', totalSize: req.statuses[0] === JobStatus.RUNNING ? 3n : 0n },
      }),
    });
    const text = await scrape();
    expect(value(text, 'tunemesh_jobs{status="RUNNING"}')).toBe(3);
    expect(value(text, 'tunemesh_jobs{status="QUEUED"}')).toBe(0);
  });

  it('tracks open subscriptions and training tokens/s', async () => {
    const sub = subscribeOverWebSocket(h.gateway.wsUrl, {
      query: 'subscription { trainingProgress(jobId: "jm") { sequence } }',
    });
    const progress = encodeJobEvent({
      $case: 'progress',
      value: {
        jobId: 'jm',
        sequence: 1n,
        step: 1n,
        totalSteps: 10n,
        epoch: 0,
        loss: 2,
        learningRate: 1e-4,
        gradNorm: 1,
        tokensPerSecond: 321.5,
        tokensSeen: 0n,
        elapsedSeconds: 1,
        peakMemoryBytes: 0n,
      },
    });
    await publisher.nc.jetstream().publish(progress.subject, progress.data);
    await sub.waitFor(1);
    const open = await scrape();
    expect(value(open, 'tunemesh_gateway_subscriptions_active')).toBe(1);
    expect(value(open, 'tunemesh_training_tokens_per_second{job_id="jm"}')).toBe(321.5);
    await sub.close();
    for (let i = 0; i < 50 && value(await scrape(), 'tunemesh_gateway_subscriptions_active') !== 0; i++) {
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(value(await scrape(), 'tunemesh_gateway_subscriptions_active')).toBe(0);
  });
});
