// Crash recovery with a real nats-server: a trainer node in a child process is killed with SIGKILL mid-job; the
// work queue redelivers the job to another node, which resumes from the last checkpoint. The final adapter equals
// that of an uninterrupted run of the same job (1e-6), and the event history has no gap and no duplicate step.
// SIGTERM on a node of capacity 2 checkpoints both of its jobs at the step they reached and releases them; another
// node resumes each from exactly that step and ends with the uninterrupted weights.

import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadPeftAdapter } from '../packages/engine/src/index.js';
import type { ServiceClient } from '../packages/kit/src/index.js';
import { type SourceProcess, spawnSource } from '../packages/kit/src/testing/index.js';
import {
  type CreateFineTuneJobRequest,
  type FineTuneJob,
  Hyperparameters,
  ImportOptions,
  type JobEventEnvelope,
  JobStatus,
  LoraConfig,
  type TrainerServiceDefinition,
} from '../proto/src/index.js';
import type { TrainerNodeHandle } from '../services/trainer/src/index.js';
import { repoRoot as root, startTestMesh, type TestMesh } from './support/mesh.js';

let mesh: TestMesh<'dataset' | 'trainer'>;
let child: SourceProcess | undefined;
let nodeB: TrainerNodeHandle | undefined;
let client: ServiceClient<typeof TrainerServiceDefinition>;
let modelId: string;
let datasetId: string;

beforeAll(async () => {
  mesh = await startTestMesh({
    name: 'tm-trainer-crash-',
    services: ['dataset', 'trainer'],
    models: { tiny: { arch: 'qwen2', seed: 3 } },
    // A dead node's job comes back after 2 s instead of a minute.
    env: { trainer: { TRAINER_WORK_ACK_WAIT_MS: '2000' } },
  });
  client = mesh.clients.trainer;
  const d = await mesh.clients.dataset.importDatasetFromPath({
    path: 'chat.jsonl',
    validationPath: '',
    options: ImportOptions.fromPartial({
      tokenizer: { source: { $case: 'modelPath', value: 'tiny' } },
    }),
  });
  datasetId = d.dataset?.id as string;
  modelId = (await client.registerBaseModel({ name: '', path: join(mesh.models, 'tiny') })).baseModel?.id as string;
}, 60_000);

afterAll(async () => {
  child?.child.kill('SIGKILL');
  await nodeB?.stop();
  await mesh?.close();
});

function request(key: string): CreateFineTuneJobRequest {
  return {
    idempotencyKey: key,
    baseModelId: modelId,
    datasetId,
    method: {
      config: {
        $case: 'lora',
        value: LoraConfig.fromPartial({ r: 4 }),
      },
    },
    hyperparameters: Hyperparameters.fromPartial({
      duration: { $case: 'maxSteps', value: 120n },
      learningRate: 1e-3,
      batchSize: 4,
      gradientAccumulationSteps: 1,
      maxSeqLength: 64,
      saveEverySteps: 5n,
    }),
    evaluationMetrics: [],
    name: '',
    labels: {},
  };
}

async function until(id: string, done: (j: FineTuneJob) => boolean, ms: number): Promise<FineTuneJob> {
  const end = Date.now() + ms;
  for (;;) {
    const job = (await client.getFineTuneJob({ id })).job as FineTuneJob;
    if (done(job)) return job;
    if (Date.now() > end) throw new Error(`job ${id} is still ${JobStatus[job.status]} at step ${job.progress?.step}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function history(jobId: string): Promise<JobEventEnvelope[]> {
  const out: JobEventEnvelope[] = [];
  for await (const r of client.streamJobProgress({ jobId, sinceSequence: 0n, historyOnly: true }))
    if (r.event !== undefined) out.push(r.event);
  return out;
}

it('resumes a job on another node after kill -9, with the weights of an uninterrupted run', async () => {
  child = spawnSource(join(root, 'services/trainer/src/node-main.ts'), {
    env: {
      NATS_URL: mesh.nats.url,
      DATASET_ADDR: mesh.dataset.address,
      TRAINER_STORE_DIR: mesh.store,
      TRAINER_NODE_ID: 'node-a',
      TRAINER_NODE_WORKING_MS: '500',
      TRAINER_NODE_THREADS: '1',
      LOG_LEVEL: 'info',
    },
  });
  await child.waitFor(/trainer node ready/, 30_000);
  const job = (await client.createFineTuneJob(request('crash'))).job as FineTuneJob;
  await until(job.id, (j) => j.status === JobStatus.RUNNING && (j.progress?.step ?? 0n) >= 7n, 20_000);
  child.child.kill('SIGKILL');
  await child.exited;
  const stoppedAt = Number((await client.getFineTuneJob({ id: job.id })).job?.progress?.step);
  expect(stoppedAt).toBeLessThan(120);

  nodeB = await mesh.startNode({ nodeId: 'node-b', workingMs: 500, threads: 1 });
  const done = await until(job.id, (j) => j.status !== JobStatus.RUNNING && j.status !== JobStatus.QUEUED, 30_000);
  expect(done.failure).toBeUndefined();
  expect(done.status).toBe(JobStatus.SUCCEEDED);
  expect(done).toMatchObject({ nodeId: 'node-b', attempt: 2 });

  const events = await history(job.id);
  expect(events.map((e) => e.sequence)).toEqual(events.map((_, i) => BigInt(i + 1)));
  const steps = events.flatMap((e) => (e.event?.$case === 'progress' ? [Number(e.event.value.step)] : []));
  expect(steps).toEqual(Array.from({ length: 120 }, (_, i) => i + 1));
  const starts = events.flatMap((e) => (e.event?.$case === 'started' ? [e.event.value] : []));
  expect(starts.map((s) => s.nodeId)).toEqual(['node-a', 'node-b']);
  expect(Number(starts[1]?.resumedFromStep)).toBeGreaterThan(0);

  // The same job without a crash, on the surviving node.
  const again = (await client.createFineTuneJob(request('uninterrupted'))).job as FineTuneJob;
  const ref = await until(again.id, (j) => j.status === JobStatus.SUCCEEDED || j.status === JobStatus.FAILED, 30_000);
  const a = await loadPeftAdapter(done.adapter?.path as string);
  const b = await loadPeftAdapter(ref.adapter?.path as string);
  expect([...a.tensors.keys()].sort()).toEqual([...b.tensors.keys()].sort());
  let worst = 0;
  for (const [name, t] of a.tensors) {
    const u = b.tensors.get(name)?.data as Float32Array;
    const v = t.data as Float32Array;
    for (let i = 0; i < v.length; i++) worst = Math.max(worst, Math.abs((v[i] as number) - (u[i] as number)));
  }
  expect(worst).toBeLessThan(1e-6);
}, 90_000);

it('drains a queue with two nodes in parallel; a stopping node releases its job to the other', async () => {
  const nodeC = await mesh.startNode({ nodeId: 'node-c', workingMs: 500, threads: 1 });
  const j1 = (await client.createFineTuneJob(request('parallel-1'))).job as FineTuneJob;
  const j2 = (await client.createFineTuneJob(request('parallel-2'))).job as FineTuneJob;
  const running = (j: FineTuneJob) => j.status === JobStatus.RUNNING && (j.progress?.step ?? 0n) >= 6n;
  const [r1, r2] = await Promise.all([until(j1.id, running, 20_000), until(j2.id, running, 20_000)]);
  // Both train at the same time, one per node.
  expect([r1.nodeId, r2.nodeId].sort()).toEqual(['node-b', 'node-c']);
  const onC = r1.nodeId === 'node-c' ? r1 : r2;
  await nodeC.stop();
  const done = await until(onC.id, (j) => j.status === JobStatus.SUCCEEDED || j.status === JobStatus.FAILED, 40_000);
  expect(done.failure).toBeUndefined();
  expect(done).toMatchObject({ status: JobStatus.SUCCEEDED, nodeId: 'node-b', attempt: 2 });
  const kinds = (await history(onC.id)).map((e) => e.event?.$case);
  // Released: queued again, then started on the other node.
  expect(kinds.filter((k) => k === 'queued')).toHaveLength(2);
  expect(kinds.filter((k) => k === 'started')).toHaveLength(2);
  const steps = (await history(onC.id)).flatMap((e) =>
    e.event?.$case === 'progress' ? [Number(e.event.value.step)] : [],
  );
  expect(steps).toEqual(Array.from({ length: 120 }, (_, i) => i + 1));
}, 60_000);

it('SIGTERM on a node of capacity 2 checkpoints both running jobs where they are; another node finishes them exactly', async () => {
  // Only the node under test may pull work while it runs.
  await nodeB?.stop();
  nodeB = undefined;
  const sigterm = spawnSource(join(root, 'services/trainer/src/node-main.ts'), {
    env: {
      NATS_URL: mesh.nats.url,
      DATASET_ADDR: mesh.dataset.address,
      TRAINER_STORE_DIR: mesh.store,
      TRAINER_NODE_ID: 'node-d',
      TRAINER_NODE_CAPACITY: '2',
      TRAINER_NODE_WORKING_MS: '500',
      TRAINER_NODE_HEARTBEAT_MS: '300',
      TRAINER_NODE_THREADS: '1',
      LOG_LEVEL: 'info',
    },
  });
  child = sigterm;
  await sigterm.waitFor(/trainer node ready/, 30_000);
  // Off the save grid: the only checkpoint a job can resume from is the one SIGTERM writes.
  const offGrid = (key: string): CreateFineTuneJobRequest => {
    const r = request(key);
    return {
      ...r,
      hyperparameters: { ...(r.hyperparameters as NonNullable<typeof r.hyperparameters>), saveEverySteps: 1_000_000n },
    };
  };
  const jobs = [
    (await client.createFineTuneJob(offGrid('sigterm-1'))).job as FineTuneJob,
    (await client.createFineTuneJob(offGrid('sigterm-2'))).job as FineTuneJob,
  ];
  const running = (j: FineTuneJob) => j.status === JobStatus.RUNNING && (j.progress?.step ?? 0n) >= 4n;
  const both = await Promise.all(jobs.map((j) => until(j.id, running, 30_000)));
  expect(both.map((j) => j.nodeId)).toEqual(['node-d', 'node-d']);
  const listed = (await client.listTrainerNodes({ device: 0 })).nodes.find((n) => n.id === 'node-d');
  expect(listed?.capacity).toBe(2);
  expect([...(listed?.runningJobIds ?? [])].sort()).toEqual(jobs.map((j) => j.id).sort());

  sigterm.child.kill('SIGTERM');
  expect((await sigterm.exited).code).toBe(0);
  child = undefined;
  const stopSteps: number[] = [];
  for (const j of jobs) {
    const events = await history(j.id);
    const kinds = events.map((e) => e.event?.$case);
    expect(kinds.at(-1)).toBe('queued');
    const lastStep = events.flatMap((e) => (e.event?.$case === 'progress' ? [Number(e.event.value.step)] : [])).at(-1);
    const cks = events.flatMap((e) =>
      e.event?.$case === 'checkpoint' ? [Number(e.event.value.checkpoint?.step)] : [],
    );
    // The checkpoint is of the step the node was at, not an earlier one.
    expect(cks).toEqual([lastStep]);
    stopSteps.push(lastStep as number);
  }

  nodeB = await mesh.startNode({ nodeId: 'node-e', workingMs: 500, threads: 1, capacity: 2 });
  const ref = await until(
    (await client.createFineTuneJob(request('uninterrupted'))).job?.id as string,
    (j) => j.status === JobStatus.SUCCEEDED || j.status === JobStatus.FAILED,
    60_000,
  );
  const refAdapter = await loadPeftAdapter(ref.adapter?.path as string);
  for (const [i, j] of jobs.entries()) {
    const done = await until(j.id, (x) => x.status === JobStatus.SUCCEEDED || x.status === JobStatus.FAILED, 60_000);
    expect(done.failure).toBeUndefined();
    expect(done).toMatchObject({ status: JobStatus.SUCCEEDED, nodeId: 'node-e', attempt: 2 });
    const events = await history(j.id);
    const starts = events.flatMap((e) => (e.event?.$case === 'started' ? [e.event.value] : []));
    expect(Number(starts[1]?.resumedFromStep)).toBe(stopSteps[i]);
    const steps = events.flatMap((e) => (e.event?.$case === 'progress' ? [Number(e.event.value.step)] : []));
    expect(steps).toEqual(Array.from({ length: 120 }, (_, k) => k + 1));
    const a = await loadPeftAdapter(done.adapter?.path as string);
    let worst = 0;
    for (const [name, t] of a.tensors) {
      const u = refAdapter.tensors.get(name)?.data as Float32Array;
      const v = t.data as Float32Array;
      for (let k = 0; k < v.length; k++) worst = Math.max(worst, Math.abs((v[k] as number) - (u[k] as number)));
    }
    expect(worst).toBeLessThan(1e-6);
  }
}, 120_000);
