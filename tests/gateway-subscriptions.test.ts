// Subscriptions fed by NATS JetStream: real protobuf job and evaluation events published onto a real nats-server
// (the same subjects and encoding the trainer and evaluator use), received over graphql-ws: replay from a
// sequence, then live, completion at the job's end, resubscription after a gateway restart, and 100 concurrent
// subscribers each receiving every event once, in order.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectNats, type NatsHandle, silentLogger } from '../packages/kit/src/index.js';
import {
  EvaluationCompleted,
  EvaluationProgress,
  encodeJobEvent,
  evaluationSubject,
  type JobEvent,
  JobFailureCode,
  Metric,
  STREAMS,
} from '../proto/src/index.js';
import { type GraphQLResult, subscribeOverWebSocket } from '../services/gateway/src/index.js';
import { type GatewayHarness, startGatewayHarness } from './gateway/harness.js';

let h: GatewayHarness;
let publisher: NatsHandle;

beforeAll(async () => {
  h = await startGatewayHarness();
  publisher = await connectNats({ servers: [h.nats.url], name: 'test-publisher', logger: silentLogger() });
});
afterAll(async () => {
  await publisher?.close();
  await h?.stop();
});

const js = () => publisher.nc.jetstream();

/** Publishes one job event as the trainer does: its subject, protobuf payload, type header and dedup id. */
async function publishJob(event: JobEvent): Promise<void> {
  const encoded = encodeJobEvent(event);
  await js().publish(encoded.subject, encoded.data, { msgID: encoded.messageId });
}

const progress = (jobId: string, sequence: number): JobEvent => ({
  $case: 'progress',
  value: {
    jobId,
    sequence: BigInt(sequence),
    step: BigInt(sequence * 10),
    totalSteps: 1000n,
    epoch: 0.5,
    loss: 2 - sequence / 100,
    learningRate: 2e-4,
    gradNorm: 1,
    tokensPerSecond: 1234.5,
    tokensSeen: 0n,
    elapsedSeconds: 1,
    peakMemoryBytes: 0n,
  },
});
const queued = (jobId: string): JobEvent => ({
  $case: 'queued',
  value: { jobId, sequence: 1n, baseModelId: 'm', datasetId: 'd', method: 2, previousAttempts: 0 },
});
const completed = (jobId: string, sequence: number): JobEvent => ({
  $case: 'completed',
  value: {
    jobId,
    sequence: BigInt(sequence),
    baseModelId: 'm',
    datasetId: 'd',
    method: 2,
    steps: 100n,
    finalLoss: 1.1,
    trainableParams: 0n,
    totalParams: 0n,
    evaluationMetrics: [],
    elapsedSeconds: 9,
  },
});

const PROGRESS = `subscription($jobId: ID!, $since: Long) {
  trainingProgress(jobId: $jobId, sinceSequence: $since) { sequence kind step totalSteps loss learningRate tokensPerSecond status error { code } }
}`;

const sequences = (results: GraphQLResult[]) =>
  results.map((r) => (r.data?.trainingProgress as { sequence: number } | undefined)?.sequence ?? r);

/** Waits until the job event stream has `count` consumers: a live-only subscription is then in place. */
async function consumers(count: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const info = await publisher.jsm.streams.info(STREAMS.jobEvents.name);
    if (info.state.consumer_count >= count) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`fewer than ${count} consumers on ${STREAMS.jobEvents.name}`);
}

describe('trainingProgress', () => {
  it('replays after sinceSequence, continues live and completes when the job ends', async () => {
    await publishJob(queued('jr'));
    for (const s of [2, 3, 4, 5]) await publishJob(progress('jr', s));
    await publishJob(progress('other', 4)); // another job's event is not delivered
    const sub = subscribeOverWebSocket(h.gateway.wsUrl, { query: PROGRESS, variables: { jobId: 'jr', since: 3 } });
    await sub.waitFor(2);
    await publishJob(progress('jr', 6));
    await publishJob(completed('jr', 7));
    const results = await sub.done;
    expect(sequences(results)).toEqual([4, 5, 6, 7]);
    expect(results[0]?.data?.trainingProgress).toEqual({
      sequence: 4,
      kind: 'PROGRESS',
      step: 40,
      totalSteps: 1000,
      loss: 1.96,
      learningRate: 2e-4,
      tokensPerSecond: 1234.5,
      status: null,
      error: null,
    });
    expect(results[3]?.data?.trainingProgress).toMatchObject({ kind: 'COMPLETED', status: 'SUCCEEDED' });
    await sub.close();
  });

  it('replays a finished job from the start and completes at once, with the failure', async () => {
    await publishJob(queued('jf'));
    await publishJob({
      $case: 'failed',
      value: {
        jobId: 'jf',
        sequence: 2n,
        failure: { code: JobFailureCode.DIVERGED, message: 'loss is NaN', step: 3n },
        lastCheckpointId: '',
      },
    });
    const sub = subscribeOverWebSocket(h.gateway.wsUrl, { query: PROGRESS, variables: { jobId: 'jf' } });
    const results = await sub.done;
    expect(sequences(results)).toEqual([1, 2]);
    expect(results[1]?.data?.trainingProgress).toMatchObject({
      kind: 'FAILED',
      status: 'FAILED',
      error: { code: 'DIVERGED' },
    });
    await sub.close();
  });

  it('refuses a job id that cannot be a subject token', async () => {
    const sub = subscribeOverWebSocket(h.gateway.wsUrl, { query: PROGRESS, variables: { jobId: 'a.>' } });
    const results = await sub.done;
    expect(results[0]?.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    await sub.close();
  });

  it('loses nothing across a gateway restart: the client resubscribes with its last sequence', async () => {
    await publishJob(queued('jg'));
    await publishJob(progress('jg', 2));
    await publishJob(progress('jg', 3));
    const first = subscribeOverWebSocket(h.gateway.wsUrl, { query: PROGRESS, variables: { jobId: 'jg' } });
    await first.waitFor(3);
    await h.restartGateway();
    await expect(first.done).rejects.toThrow();
    await publishJob(progress('jg', 4)); // published while the client is away
    const last = (first.results.at(-1)?.data?.trainingProgress as { sequence: number } | undefined)?.sequence;
    expect(last).toBeGreaterThan(0);
    const second = subscribeOverWebSocket(h.gateway.wsUrl, {
      query: PROGRESS,
      variables: { jobId: 'jg', since: last },
    });
    await second.waitFor(1);
    await publishJob(completed('jg', 5));
    const results = [...first.results, ...(await second.done)];
    expect(sequences(results)).toEqual([1, 2, 3, 4, 5]);
    await Promise.all([first.close(), second.close()]);
  });

  it('delivers every event once and in order to 100 concurrent subscribers', async () => {
    await publishJob(queued('jc'));
    await publishJob(progress('jc', 2));
    const subs = Array.from({ length: 100 }, () =>
      subscribeOverWebSocket(h.gateway.wsUrl, { query: PROGRESS, variables: { jobId: 'jc' } }),
    );
    await Promise.all(subs.map((s) => s.waitFor(2, 30_000)));
    for (let s = 3; s <= 22; s++) await publishJob(progress('jc', s));
    await publishJob(progress('jc', 10)); // a publisher's retry: JetStream's dedup id stores it once
    await publishJob(completed('jc', 23));
    const all = await Promise.all(subs.map((s) => s.done));
    const expected = Array.from({ length: 23 }, (_, i) => i + 1);
    for (const results of all) expect(sequences(results)).toEqual(expected);
    await Promise.all(subs.map((s) => s.close()));
  }, 60_000);
});

describe('jobStatusChanged', () => {
  it('streams status changes of every job live, skipping progress', async () => {
    const before = (await publisher.jsm.streams.info(STREAMS.jobEvents.name)).state.consumer_count;
    const sub = subscribeOverWebSocket(h.gateway.wsUrl, {
      query: 'subscription { jobStatusChanged { jobId sequence status } }',
    });
    await consumers(before + 1);
    await publishJob(queued('js1'));
    await publishJob(progress('js1', 2));
    await publishJob(completed('js1', 3));
    const results = await sub.waitFor(2);
    expect(results.map((r) => r.data?.jobStatusChanged)).toEqual([
      { jobId: 'js1', sequence: 1, status: 'QUEUED' },
      { jobId: 'js1', sequence: 3, status: 'SUCCEEDED' },
    ]);
    await sub.close();
  });
});

describe('evaluationProgress', () => {
  it('replays and completes with the metrics', async () => {
    const data = EvaluationProgress.encode({
      evaluationId: 'ev1',
      sequence: 1n,
      examplesDone: 5n,
      examplesTotal: 10n,
      elapsedSeconds: 1,
    }).finish();
    await js().publish(evaluationSubject('ev1', 'progress'), data);
    const sub = subscribeOverWebSocket(h.gateway.wsUrl, {
      query: `subscription { evaluationProgress(evaluationId: "ev1") {
        evaluationId sequence examplesDone examplesTotal status metrics { name value } } }`,
    });
    await sub.waitFor(1);
    const done = EvaluationCompleted.fromPartial({
      evaluationId: 'ev1',
      sequence: 2n,
      metrics: [{ metric: Metric.ACCURACY, value: 0.8 }],
    });
    await js().publish(evaluationSubject('ev1', 'completed'), EvaluationCompleted.encode(done).finish());
    const results = await sub.done;
    expect(results.map((r) => r.data?.evaluationProgress)).toEqual([
      { evaluationId: 'ev1', sequence: 1, examplesDone: 5, examplesTotal: 10, status: null, metrics: null },
      {
        evaluationId: 'ev1',
        sequence: 2,
        examplesDone: 0,
        examplesTotal: 0,
        status: 'SUCCEEDED',
        metrics: [{ name: 'ACCURACY', value: 0.8 }],
      },
    ]);
    await sub.close();
  });
});
