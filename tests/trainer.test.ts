// The trainer service with a real nats-server, the real dataset service and an in-process trainer node: base
// models (validated by the engine, roots enforced), create-time rejections naming the field, idempotent create,
// a job that trains for real and leaves a PEFT adapter the engine loads, progress replay, cancel.

import { mkdir, readdir, readFile, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadPeftAdapter, makeTinyModel } from '../packages/engine/src/index.js';
import { ClientError, createLogger, type ServiceClient, Status, silentLogger } from '../packages/kit/src/index.js';
import {
  type CreateFineTuneJobRequest,
  type FineTuneJob,
  Hyperparameters,
  ImportOptions,
  type JobEventEnvelope,
  JobFailureCode,
  JobStatus,
  LoraConfig,
  Quantization,
  type TrainerServiceDefinition,
} from '../proto/src/index.js';
import { artefactRoot } from '../services/trainer/src/index.js';
import { startTestMesh, type TestMesh } from './support/mesh.js';

let mesh: TestMesh<'dataset' | 'trainer'>;
let models: string;
let store: string;
let client: ServiceClient<typeof TrainerServiceDefinition>;
let modelId: string;
let datasetId: string;
let failedDatasetId: string;

beforeAll(async () => {
  mesh = await startTestMesh({
    name: 'tm-trainer-',
    services: ['dataset', 'trainer'],
    data: [
      'packages/engine/src/data/testdata/chat.jsonl',
      'packages/engine/src/data/validate/testdata/chat-problems.jsonl',
    ],
    // A model folder the engine rejects, and a link out of the model root.
    prepare: async ({ tmp, models }) => {
      await mkdir(join(models, 'empty'), { recursive: true });
      await writeFile(join(models, 'empty', 'config.json'), '{"model_type": "bert"}');
      await symlink(join(tmp, 'data'), join(models, 'link-out'));
    },
    node: { nodeId: 'node-a', heartbeatMs: 500, threads: 1 },
    logger: process.env.TRAINER_TEST_LOG ? createLogger('test', 'debug') : silentLogger(),
  });
  ({ models, store } = mesh);
  client = mesh.clients.trainer;
  const datasets = mesh.clients.dataset;
  const d = await datasets.importDatasetFromPath({
    path: 'chat.jsonl',
    validationPath: '',
    options: ImportOptions.fromPartial({
      tokenizer: { source: { $case: 'modelPath', value: 'tiny' } },
      split: { holdout: { $case: 'validationFraction', value: 0.2 }, seed: 42 },
    }),
  });
  datasetId = d.dataset?.id as string;
  const failed = await datasets.importDatasetFromPath({
    path: 'chat-problems.jsonl',
    validationPath: '',
    options: { name: '', fileFormat: 0, format: 0, maxLength: 0, overlengthPolicy: 0, removeDuplicates: false },
  });
  failedDatasetId = failed.dataset?.id as string;
}, 60_000);

afterAll(async () => {
  await mesh?.close();
});

/** The status and the field trailer of a refused call. */
async function refusal(
  call: (onTrailer: (t: { get(k: string): string | Uint8Array | undefined }) => void) => Promise<unknown>,
) {
  let field: string | undefined;
  try {
    await call((t) => {
      const v = t.get('tunemesh-field');
      field = typeof v === 'string' ? v : undefined;
    });
  } catch (err) {
    if (err instanceof ClientError) return { code: err.code, field, message: err.details };
    throw err;
  }
  throw new Error('the call succeeded');
}

function request(over: Partial<CreateFineTuneJobRequest> = {}): CreateFineTuneJobRequest {
  return {
    idempotencyKey: `key-${Math.random()}`,
    baseModelId: modelId,
    datasetId,
    method: {
      config: {
        $case: 'lora',
        value: LoraConfig.fromPartial({ r: 4 }),
      },
    },
    hyperparameters: Hyperparameters.fromPartial({
      duration: { $case: 'maxSteps', value: 4n },
      learningRate: 1e-3,
      batchSize: 4,
      gradientAccumulationSteps: 1,
      maxSeqLength: 64,
      saveEverySteps: 2n,
    }),
    evaluationMetrics: [],
    name: '',
    labels: {},
    ...over,
  };
}

async function until(id: string, done: (j: FineTuneJob) => boolean, ms = 30_000): Promise<FineTuneJob> {
  const end = Date.now() + ms;
  for (;;) {
    const job = (await client.getFineTuneJob({ id })).job as FineTuneJob;
    if (done(job)) return job;
    if (Date.now() > end) throw new Error(`job ${id} is still ${JobStatus[job.status]}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const ended = (j: FineTuneJob) =>
  j.status === JobStatus.SUCCEEDED || j.status === JobStatus.FAILED || j.status === JobStatus.CANCELLED;

async function history(jobId: string, since = 0n): Promise<JobEventEnvelope[]> {
  const out: JobEventEnvelope[] = [];
  for await (const r of client.streamJobProgress({ jobId, sinceSequence: since, historyOnly: true }))
    if (r.event !== undefined) out.push(r.event);
  return out;
}

describe('base models', () => {
  it('registers a model directory checked by the engine, once per path', async () => {
    const a = await client.registerBaseModel({ name: '', path: join(models, 'tiny') });
    expect(a.alreadyExisted).toBe(false);
    const m = a.baseModel;
    expect(m).toMatchObject({ name: 'tiny', architecture: 'Qwen2ForCausalLM', modelType: 'qwen2', numLayers: 2 });
    expect(Number(m?.parameterCount)).toBeGreaterThan(10_000);
    expect(Number(m?.sizeBytes)).toBeGreaterThan(Number(m?.parameterCount) * 2);
    expect(m?.defaultTargetModules).toEqual(['q_proj', 'v_proj']);
    expect(m?.linearModuleNames).toContain('down_proj');
    expect(m?.sha256).toMatch(/^[0-9a-f]{64}$/);
    modelId = m?.id as string;
    const again = await client.registerBaseModel({ name: 'other', path: join(models, 'tiny', '.') });
    expect(again).toMatchObject({ alreadyExisted: true, baseModel: { id: modelId } });
    expect((await client.getBaseModel({ id: modelId })).baseModel?.path).toBe(join(models, 'tiny'));
    const list = await client.listBaseModels({ architecture: 'Qwen2ForCausalLM', ids: [] });
    expect(list.baseModels.map((b) => b.id)).toEqual([modelId]);
    expect((await client.listBaseModels({ architecture: 'GPT2LMHeadModel', ids: [] })).baseModels).toEqual([]);
  });

  it('refuses paths outside the roots (.. and symbolic links) and directories the engine cannot use', async () => {
    const reg = (path: string) => refusal((onTrailer) => client.registerBaseModel({ name: '', path }, { onTrailer }));
    expect((await reg(join(models, '..', 'data'))).code).toBe(Status.PERMISSION_DENIED);
    expect((await reg(join(models, 'link-out'))).code).toBe(Status.PERMISSION_DENIED);
    expect((await reg(join(models, 'missing'))).code).toBe(Status.NOT_FOUND);
    const bad = await reg(join(models, 'empty'));
    expect(bad).toMatchObject({ code: Status.INVALID_ARGUMENT, field: 'path' });
    expect((await refusal(() => client.getBaseModel({ id: 'nope' }))).code).toBe(Status.NOT_FOUND);
  });
});

describe('jobs', () => {
  it('rejects at create what is known at create, naming the field', async () => {
    const create = (over: Partial<CreateFineTuneJobRequest>) =>
      refusal((onTrailer) => client.createFineTuneJob(request(over), { onTrailer }));
    expect((await create({ baseModelId: 'bm-nope' })).code).toBe(Status.NOT_FOUND);
    expect((await create({ datasetId: 'ds-nope' })).code).toBe(Status.NOT_FOUND);
    expect((await create({ datasetId: failedDatasetId })).code).toBe(Status.FAILED_PRECONDITION);
    expect(await create({ idempotencyKey: '' })).toMatchObject({
      code: Status.INVALID_ARGUMENT,
      field: 'idempotency_key',
    });
    const lora = request().method;
    if (lora?.config?.$case !== 'lora') throw new Error('lora');
    const badTarget = await create({
      method: { config: { $case: 'lora', value: { ...lora.config.value, targetModules: ['c_attn'] } } },
    });
    expect(badTarget).toMatchObject({ code: Status.INVALID_ARGUMENT, field: 'method.lora.target_modules' });
    const parallel = await create({
      method: {
        config: { $case: 'adapter', value: { bottleneckSize: 16, nonLinearity: 0, placement: 3, dropout: 0 } },
      },
    });
    expect(parallel).toMatchObject({ code: Status.INVALID_ARGUMENT, field: 'method.adapter.placement' });
    const oddBottleneck = await create({
      method: {
        config: { $case: 'adapter', value: { bottleneckSize: 48, nonLinearity: 0, placement: 0, dropout: 0 } },
      },
    });
    expect(oddBottleneck.field).toBe('method.adapter');
    expect(oddBottleneck.message).toMatch(/bottleneck_size 48 does not divide the hidden size 64/);
    const ia3Subset = await create({
      method: {
        config: {
          $case: 'ia3',
          value: { targetModules: ['k_proj'], feedforwardModules: ['down_proj'], modulesToSave: [] },
        },
      },
    });
    expect(ia3Subset.field).toBe('method.ia3.feedforward_modules');
    const h = request().hyperparameters;
    if (h === undefined) throw new Error('hp');
    expect((await create({ hyperparameters: { ...h, learningRate: -1 } })).field).toBe('hyperparameters.learning_rate');
    expect((await create({ hyperparameters: { ...h, warmup: { $case: 'warmupRatio', value: 1.5 } } })).field).toBe(
      'hyperparameters.warmup_ratio',
    );
    // quantization runs now (see the QLoRA job); a block size without int4 is refused at create
    expect(
      (await create({ hyperparameters: { ...h, quantization: Quantization.INT8, quantBlockSize: 64 } })).field,
    ).toBe('hyperparameters.quant_block_size');
    const prompt = await create({
      method: { config: { $case: 'promptTuning', value: { numVirtualTokens: 4, init: 2, initText: '' } } },
    });
    expect(prompt.field).toBe('method.prompt_tuning.init_text');
    const prefix = await create({
      method: {
        config: {
          $case: 'prefixTuning',
          value: { numVirtualTokens: 5000, prefixProjection: false, encoderHiddenSize: 0 },
        },
      },
    });
    expect(prefix.field).toBe('method.prefix-tuning');
  });

  it('trains a job for real: queued → running → succeeded, a PEFT adapter the engine loads, checkpoints, events', async () => {
    const created = await client.createFineTuneJob(request());
    const id = created.job?.id as string;
    // Follows live from the start: history first, then live events, ending after the terminal one.
    const live = (async () => {
      const seen: JobEventEnvelope[] = [];
      for await (const r of client.streamJobProgress(
        { jobId: id, sinceSequence: 0n, historyOnly: false },
        { deadline: new Date(Date.now() + 30_000) },
      ))
        if (r.event !== undefined) seen.push(r.event);
      return seen;
    })();
    expect(created.job?.status).toBe(JobStatus.QUEUED);
    expect(created.job?.name).toBe('lora-tiny-chat.jsonl');
    const job = await until(id, ended);
    expect(job.failure).toBeUndefined();
    expect(job.status).toBe(JobStatus.SUCCEEDED);
    expect(job.progress?.step).toBe(4n);
    expect(job.nodeId).toBe('node-a');
    expect(job.attempt).toBe(1);
    const adapter = await loadPeftAdapter(job.adapter?.path as string);
    expect(job.adapter?.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(Number(job.adapter?.sizeBytes)).toBeGreaterThan(0);
    expect(adapter.config.peftType).toBe('LORA');
    expect(adapter.tensors.size).toBeGreaterThan(0);
    expect((await stat(job.lossCurve?.path as string)).size).toBeGreaterThan(100);
    const cks = await client.listCheckpoints({ jobId: id });
    expect(cks.checkpoints.map((c) => Number(c.step))).toEqual([4, 2]);
    expect(job.latestCheckpointId).toBe(cks.checkpoints[0]?.id);
    expect(Number(cks.checkpoints[0]?.artifact?.sizeBytes)).toBeGreaterThan(0);

    const events = await history(id);
    expect((await live).map((e) => e.sequence)).toEqual(events.map((e) => e.sequence));
    expect(events.map((e) => e.sequence)).toEqual(events.map((_, i) => BigInt(i + 1)));
    const kinds = events.map((e) => e.event?.$case);
    expect(kinds[0]).toBe('queued');
    expect(kinds[1]).toBe('started');
    expect(kinds.at(-1)).toBe('completed');
    const steps = events.flatMap((e) => (e.event?.$case === 'progress' ? [Number(e.event.value.step)] : []));
    expect(steps).toEqual([1, 2, 3, 4]);
    const p = events.find((e) => e.event?.$case === 'progress')?.event;
    if (p?.$case !== 'progress') throw new Error('no progress');
    expect(p.value.loss).toBeGreaterThan(0);
    expect(p.value.tokensPerSecond).toBeGreaterThan(0);
    expect(p.value.totalSteps).toBe(4n);
    // Replay from a sequence: only what came after it.
    const tail = await history(id, 3n);
    expect(tail[0]?.sequence).toBe(4n);
    expect(tail.length).toBe(events.length - 3);

    const listed = await client.listFineTuneJobs({
      statuses: [JobStatus.SUCCEEDED],
      baseModelId: '',
      datasetId,
      method: 0,
      ids: [],
    });
    expect(listed.jobs.map((j) => j.id)).toContain(id);
    const nodes = await client.listTrainerNodes({ device: 0 });
    expect(nodes.nodes.map((n) => n.id)).toEqual(['node-a']);
  }, 40_000);

  it('trains IA3, bottleneck-adapter and DoRA jobs; each leaves an adapter in its saved form', async () => {
    const lora = request().method;
    if (lora?.config?.$case !== 'lora') throw new Error('lora');
    const methods: CreateFineTuneJobRequest['method'][] = [
      { config: { $case: 'ia3', value: { targetModules: [], feedforwardModules: [], modulesToSave: [] } } },
      { config: { $case: 'adapter', value: { bottleneckSize: 16, nonLinearity: 3, placement: 2, dropout: 0 } } },
      { config: { $case: 'lora', value: { ...lora.config.value, useDora: true } } },
    ];
    const h = request().hyperparameters as NonNullable<CreateFineTuneJobRequest['hyperparameters']>;
    const ids = await Promise.all(
      methods.map(async (method) => {
        const r = await client.createFineTuneJob(
          request({
            method,
            hyperparameters: { ...h, duration: { $case: 'maxSteps', value: 2n }, saveEverySteps: 0n },
          }),
        );
        return r.job?.id as string;
      }),
    );
    const jobs = await Promise.all(ids.map((id) => until(id, ended, 60_000)));
    for (const j of jobs) expect([j.name, j.status, j.failure]).toEqual([j.name, JobStatus.SUCCEEDED, undefined]);
    const [ia3, adapter, dora] = jobs.map((j) => j.adapter?.path as string);
    expect((await loadPeftAdapter(ia3 as string)).config.peftType).toBe('IA3');
    const d = await loadPeftAdapter(dora as string);
    expect(d.config.peftType === 'LORA' && d.config.useDora).toBe(true);
    expect([...d.tensors.keys()].some((k) => k.endsWith('.lora_magnitude_vector'))).toBe(true);
    const cfg = JSON.parse(await readFile(join(adapter as string, 'adapter_config.json'), 'utf8'));
    expect(cfg).toMatchObject({
      peft_type: 'TUNEMESH_BOTTLENECK_ADAPTER',
      mh_adapter: true,
      output_adapter: true,
      reduction_factor: 4,
      non_linearity: 'silu',
    });
  }, 90_000);

  it('trains a QLoRA job (int4 base, gradient checkpointing); a block size that does not fit fails naming it', async () => {
    const h = request().hyperparameters as NonNullable<CreateFineTuneJobRequest['hyperparameters']>;
    const job = (quantBlockSize: number) =>
      client.createFineTuneJob(
        request({
          hyperparameters: {
            ...h,
            duration: { $case: 'maxSteps', value: 2n },
            saveEverySteps: 0n,
            quantization: Quantization.INT4,
            quantBlockSize,
            gradientCheckpointing: true,
          },
        }),
      );
    const [ok, bad] = await Promise.all([job(32), job(128)]);
    const [done, failed] = await Promise.all([ok, bad].map((r) => until(r.job?.id as string, ended, 60_000)));
    expect([done?.status, done?.failure]).toEqual([JobStatus.SUCCEEDED, undefined]);
    expect((await loadPeftAdapter(done?.adapter?.path as string)).config.peftType).toBe('LORA');
    expect(failed?.status).toBe(JobStatus.FAILED);
    expect(failed?.failure?.code).toBe(JobFailureCode.MODEL_ERROR);
    expect(failed?.failure?.message).toMatch(
      /quant block size 128 does not divide the input dimension 64 .*fit this model: 32, 64/,
    );
  }, 90_000);

  it('trains prompt-tuning (TEXT init), P-tuning (LSTM) and prefix-tuning jobs; each leaves a PEFT adapter', async () => {
    const methods: CreateFineTuneJobRequest['method'][] = [
      { config: { $case: 'promptTuning', value: { numVirtualTokens: 4, init: 2, initText: 'Answer briefly.' } } },
      {
        config: {
          $case: 'pTuning',
          value: { numVirtualTokens: 3, encoderType: 2, encoderHiddenSize: 8, encoderNumLayers: 0, encoderDropout: 0 },
        },
      },
      {
        config: {
          $case: 'prefixTuning',
          value: { numVirtualTokens: 3, prefixProjection: true, encoderHiddenSize: 16 },
        },
      },
    ];
    const h = request().hyperparameters as NonNullable<CreateFineTuneJobRequest['hyperparameters']>;
    const ids = await Promise.all(
      methods.map(async (method) => {
        const r = await client.createFineTuneJob(
          request({
            method,
            hyperparameters: { ...h, duration: { $case: 'maxSteps', value: 2n }, saveEverySteps: 0n },
          }),
        );
        return r.job?.id as string;
      }),
    );
    const jobs = await Promise.all(ids.map((id) => until(id, ended, 60_000)));
    for (const j of jobs)
      expect(`${j.name} ${j.status} ${j.failure?.message}`).toBe(`${j.name} ${JobStatus.SUCCEEDED} undefined`);
    const types = await Promise.all(jobs.map(async (j) => (await loadPeftAdapter(j.adapter?.path as string)).config));
    expect(types.map((c) => c.peftType)).toEqual(['PROMPT_TUNING', 'P_TUNING', 'PREFIX_TUNING']);
    expect(types.map((c) => (c.peftType === 'LORA' || c.peftType === 'IA3' ? 0 : c.numVirtualTokens))).toEqual([
      4, 3, 3,
    ]);
    expect(types[1]?.extra).toMatchObject({ encoder_reparameterization_type: 'LSTM', encoder_num_layers: 2 });
  }, 90_000);

  it('is idempotent: a retried create returns the same job; another request with the key is ALREADY_EXISTS', async () => {
    const req = request({
      hyperparameters: {
        ...(request().hyperparameters as NonNullable<CreateFineTuneJobRequest['hyperparameters']>),
        duration: { $case: 'maxSteps', value: 1n },
      },
    });
    const a = await client.createFineTuneJob(req);
    const b = await client.createFineTuneJob(req);
    expect(b.alreadyExisted).toBe(true);
    expect(b.job?.id).toBe(a.job?.id);
    const c = await refusal(() => client.createFineTuneJob({ ...req, name: 'different' }));
    expect(c.code).toBe(Status.ALREADY_EXISTS);
    await until(a.job?.id as string, ended);
  }, 30_000);

  it('cancels: a running job stops within a step, a queued one never starts', async () => {
    const long = request({
      hyperparameters: {
        ...(request().hyperparameters as NonNullable<CreateFineTuneJobRequest['hyperparameters']>),
        duration: { $case: 'maxSteps', value: 100_000n },
        saveEverySteps: 1_000n,
      },
    });
    const a = (await client.createFineTuneJob(long)).job as FineTuneJob;
    await until(a.id, (j) => j.status === JobStatus.RUNNING && (j.progress?.step ?? 0n) >= 2n);
    const b = (await client.createFineTuneJob({ ...long, idempotencyKey: 'queued-one' })).job as FineTuneJob;
    expect(b.status).toBe(JobStatus.QUEUED);
    const cb = await client.cancelFineTuneJob({ id: b.id, reason: 'not needed' });
    expect(cb.job?.status).toBe(JobStatus.CANCELLED);
    const t0 = Date.now();
    const ca = await client.cancelFineTuneJob({ id: a.id, reason: 'enough' });
    // The node may stop the job before the call returns: then the answer is already CANCELLED.
    expect(ca.job?.cancelRequested === true || ca.job?.status === JobStatus.CANCELLED).toBe(true);
    const stopped = await until(a.id, ended, 10_000);
    expect(stopped.status).toBe(JobStatus.CANCELLED);
    expect(Date.now() - t0).toBeLessThan(5_000);
    // The queued job was never started, even after the node became free.
    await new Promise((r) => setTimeout(r, 1_500));
    expect((await history(b.id)).map((e) => e.event?.$case)).toEqual(['queued', 'cancelled']);
    expect((await client.getFineTuneJob({ id: b.id })).job?.status).toBe(JobStatus.CANCELLED);
    expect((await refusal(() => client.cancelFineTuneJob({ id: 'job-nope', reason: '' }))).code).toBe(Status.NOT_FOUND);
  }, 40_000);
});

/** Sets the first element of one float32 tensor of a safetensors file to NaN (a model whose loss cannot be finite). */
async function poisonTensor(file: string, name: string): Promise<void> {
  const buf = await readFile(file);
  const headerLength = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + headerLength).toString('utf8')) as Record<
    string,
    { dtype: string; data_offsets: [number, number] }
  >;
  const t = header[name];
  if (t === undefined || t.dtype !== 'F32') throw new Error(`no float32 tensor ${name} in ${file}`);
  buf.writeFloatLE(Number.NaN, 8 + headerLength + t.data_offsets[0]);
  await writeFile(file, buf);
}

describe('stopping, failing and checkpoint bookkeeping', () => {
  it('cancel checkpoints the step it stopped at; the checkpoint is listed and on disk', async () => {
    const long = request({
      hyperparameters: {
        ...(request().hyperparameters as NonNullable<CreateFineTuneJobRequest['hyperparameters']>),
        duration: { $case: 'maxSteps', value: 100_000n },
        // Off the save grid for this test: the only checkpoint is the one the cancel writes.
        saveEverySteps: 1_000_000n,
      },
    });
    const a = (await client.createFineTuneJob(long)).job as FineTuneJob;
    await until(a.id, (j) => j.status === JobStatus.RUNNING && (j.progress?.step ?? 0n) >= 3n);
    await client.cancelFineTuneJob({ id: a.id, reason: 'checkpoint please' });
    const done = await until(a.id, ended, 10_000);
    expect(done.status).toBe(JobStatus.CANCELLED);
    const cancelled = (await history(a.id)).flatMap((e) => (e.event?.$case === 'cancelled' ? [e.event.value] : []));
    expect(cancelled).toHaveLength(1);
    const at = Number(cancelled[0]?.step);
    expect(at).toBeGreaterThanOrEqual(3);
    expect(cancelled[0]?.lastCheckpointId).toBe(`${a.id}-ckpt-${at}`);
    expect(done.latestCheckpointId).toBe(`${a.id}-ckpt-${at}`);
    const cks = (await client.listCheckpoints({ jobId: a.id })).checkpoints;
    expect(cks.map((c) => Number(c.step))).toEqual([at]);
    const onDisk = await readdir(join(artefactRoot(store), 'jobs', a.id, 'checkpoints'));
    expect(onDisk).toEqual([`checkpoint-${at}`]);
    expect(cks[0]?.artifact?.path).toBe(join(artefactRoot(store), 'jobs', a.id, 'checkpoints', `checkpoint-${at}`));
  }, 30_000);

  it('a job whose loss is non-finite 5 steps in a row fails DIVERGED and keeps its last checkpoint', async () => {
    await makeTinyModel({ arch: 'qwen2', out: join(models, 'tiny-nan'), seed: 1 });
    await poisonTensor(join(models, 'tiny-nan', 'model.safetensors'), 'model.norm.weight');
    const nanModel = (await client.registerBaseModel({ name: '', path: join(models, 'tiny-nan') })).baseModel?.id;
    const job = (
      await client.createFineTuneJob(
        request({
          baseModelId: nanModel as string,
          hyperparameters: {
            ...(request().hyperparameters as NonNullable<CreateFineTuneJobRequest['hyperparameters']>),
            duration: { $case: 'maxSteps', value: 50n },
            saveEverySteps: 2n,
          },
        }),
      )
    ).job as FineTuneJob;
    const done = await until(job.id, ended);
    expect(done.status).toBe(JobStatus.FAILED);
    expect(done.failure?.code).toBe(JobFailureCode.DIVERGED);
    expect(done.failure?.step).toBe(5n);
    expect(done.failure?.message).toMatch(/5 steps in a row had a non-finite loss/);
    const failed = (await history(job.id)).flatMap((e) => (e.event?.$case === 'failed' ? [e.event.value] : []));
    expect(failed[0]?.lastCheckpointId).toBe(`${job.id}-ckpt-4`);
    expect((await client.listCheckpoints({ jobId: job.id })).checkpoints.map((c) => Number(c.step))).toEqual([4, 2]);
  }, 30_000);

  it('save_total_limit keeps the newest and the best; ListCheckpoints matches the disk and marks one best', async () => {
    const job = (
      await client.createFineTuneJob(
        request({
          hyperparameters: {
            ...(request().hyperparameters as NonNullable<CreateFineTuneJobRequest['hyperparameters']>),
            duration: { $case: 'maxSteps', value: 6n },
            // A learning rate this high makes the validation loss go up after a while, so the best is older.
            learningRate: 0.5,
            evalEverySteps: 1n,
            saveEverySteps: 1n,
            saveTotalLimit: 2,
          },
        }),
      )
    ).job as FineTuneJob;
    const done = await until(job.id, ended);
    expect(done.status).toBe(JobStatus.SUCCEEDED);
    const vals = new Map<number, number>();
    for (const e of await history(job.id))
      if (e.event?.$case === 'progress' && e.event.value.validationLoss !== undefined)
        vals.set(Number(e.event.value.step), e.event.value.validationLoss);
    expect([...vals.keys()]).toEqual([1, 2, 3, 4, 5, 6]);
    let best = 1;
    for (const [s, v] of vals) if (v < (vals.get(best) as number)) best = s;
    const expected = [...new Set([6, 5, best])].sort((x, y) => y - x);
    // The projection catches up with the last checkpoint event just after the terminal status.
    let cks = (await client.listCheckpoints({ jobId: job.id })).checkpoints;
    for (let i = 0; i < 50 && cks.length !== expected.length; i++) {
      await new Promise((r) => setTimeout(r, 100));
      cks = (await client.listCheckpoints({ jobId: job.id })).checkpoints;
    }
    expect(cks.map((c) => Number(c.step))).toEqual(expected);
    const onDisk = (await readdir(join(artefactRoot(store), 'jobs', job.id, 'checkpoints'))).sort();
    expect(onDisk).toEqual(expected.map((s) => `checkpoint-${s}`).sort());
    expect(cks.filter((c) => c.isBest).map((c) => Number(c.step))).toEqual([best]);
    for (const c of cks) expect(c.validationLoss).toBe(vals.get(Number(c.step)));
  }, 30_000);

  it('lists the checkpoints of several jobs in one call (job_ids), job by job, each as ListCheckpoints has it', async () => {
    const all = await client.listFineTuneJobs({ statuses: [], baseModelId: '', datasetId: '', method: 0, ids: [] });
    const ids = [...all.jobs.map((j) => j.id), 'job-nope'];
    const one = async (jobId: string) =>
      jobId === 'job-nope' ? [] : (await client.listCheckpoints({ jobId, jobIds: [] })).checkpoints;
    const expected = (await Promise.all(ids.map(one))).flat();
    expect(expected.length).toBeGreaterThan(3);
    const batched = await client.listCheckpoints({ jobId: '', jobIds: ids, page: { pageSize: 500, pageToken: '' } });
    expect(batched.checkpoints).toEqual(expected);
    // Paged: the same list, two at a time.
    const paged: typeof expected = [];
    let pageToken = '';
    do {
      const r = await client.listCheckpoints({ jobId: '', jobIds: ids, page: { pageSize: 2, pageToken } });
      paged.push(...r.checkpoints);
      pageToken = r.page?.nextPageToken ?? '';
    } while (pageToken !== '');
    expect(paged).toEqual(expected);
    const both = await refusal((onTrailer) =>
      client.listCheckpoints({ jobId: ids[0] as string, jobIds: ids }, { onTrailer }),
    );
    expect(both).toMatchObject({ code: Status.INVALID_ARGUMENT, field: 'job_ids' });
  });
});
