// Full fine-tuning and BitFit jobs trained for real by a trainer node, then evaluated by job id, by checkpoint
// id and automatically after job.completed. A full job's result is a whole model directory that names no base:
// its evaluation must be that directory's own loss (computed here by the engine, independently of the
// service), differ from the base's, sit in the base's leaderboard group with method FULL, refuse a merge
// naming the method, and export as a model.
import { cp, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  type ClassificationRow,
  evaluateLoss,
  loadTokenizer,
  openModel,
  prepareTrainingRows,
  readDataRows,
} from '@tunemesh/engine';
import { ClientError, FailedPreconditionError, NotFoundError, type ServiceClient, Status } from '@tunemesh/kit';
import {
  ArtifactKind,
  CombinationType,
  type CreateFineTuneJobRequest,
  DatasetSplit,
  DatasetStatus,
  Dtype,
  type Evaluation,
  EvaluationStatus,
  EvaluationTrigger,
  type EvaluatorServiceDefinition,
  ExportFormat,
  type FineTuneJob,
  Hyperparameters,
  ImportOptions,
  JobStatus,
  MethodKind,
  Metric,
  type ModelRef,
  type TrainerServiceDefinition,
} from '@tunemesh/proto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// The shared mesh start-up lives beside the cross-service suites (it starts every service, so no package may hold it).
import { repoRoot, startTestMesh, type TestMesh } from '../../../tests/support/mesh.js';
import { artefactRoot } from '../../trainer/src/index.js';
import { resolveModel } from './models.js';

const SENTIMENT = 'packages/engine/src/data/testdata/sentiment.jsonl';
const sentimentFile = join(repoRoot, SENTIMENT);
const TEMPLATE = 'Review: {text}\nSentiment:';
const LABEL_WORDS = { '0': ' negative', '1': ' positive' };

let mesh: TestMesh<'dataset' | 'trainer' | 'evaluator'>;
let tmp: string;
let models: string;
let baseDir: string;
let store: string;
let trainer: ServiceClient<typeof TrainerServiceDefinition>;
let evaluator: ServiceClient<typeof EvaluatorServiceDefinition>;
let baseModelId = '';
let datasetId = '';

beforeAll(async () => {
  mesh = await startTestMesh({
    name: 'tm-evaluator-full-',
    services: ['dataset', 'trainer', 'evaluator'],
    // GPT-2 has a bias on every linear layer and LayerNorm, so BitFit has something to train.
    models: { tiny: { arch: 'gpt2', sizes: { hidden: 32, layers: 2 }, seed: 5 } },
    data: [SENTIMENT],
    node: { nodeId: 'node-full', heartbeatMs: 500, threads: 1 },
    client: { component: 'test', retryMaxAttempts: 1 },
  });
  ({ tmp, models, store } = mesh);
  baseDir = join(models, 'tiny');
  const datasets = mesh.clients.dataset;
  trainer = mesh.clients.trainer;
  evaluator = mesh.clients.evaluator;
  baseModelId = (await trainer.registerBaseModel({ name: 'tiny', path: baseDir })).baseModel?.id ?? '';
  const d = await datasets.importDatasetFromPath({
    path: 'sentiment.jsonl',
    validationPath: '',
    options: ImportOptions.fromPartial({
      template: {
        promptTemplate: TEMPLATE,
        labelWords: LABEL_WORDS,
      },
      split: { holdout: { $case: 'validationCount', value: 8n }, seed: 42 },
    }),
  });
  expect(d.dataset?.status).toBe(DatasetStatus.READY);
  datasetId = d.dataset?.id ?? '';
}, 90_000);

afterAll(async () => {
  await mesh?.close();
});

function jobRequest(method: CreateFineTuneJobRequest['method'], key: string): CreateFineTuneJobRequest {
  return {
    idempotencyKey: key,
    baseModelId,
    datasetId,
    method,
    hyperparameters: Hyperparameters.fromPartial({
      duration: { $case: 'maxSteps', value: 4n },
      // Large for real training, so that four steps move the loss well past the tolerance compared below.
      learningRate: 1e-2,
      batchSize: 4,
      gradientAccumulationSteps: 1,
      maxSeqLength: 64,
      saveEverySteps: 2n,
    }),
    evaluationMetrics: [Metric.LOSS],
    name: '',
    labels: {},
  };
}

async function trained(req: CreateFineTuneJobRequest): Promise<FineTuneJob> {
  const id = (await trainer.createFineTuneJob(req)).job?.id ?? '';
  for (let i = 0; i < 1200; i++) {
    const job = (await trainer.getFineTuneJob({ id })).job;
    if (job && [JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED].includes(job.status)) {
      expect(job.failure).toBeUndefined();
      expect(job.status).toBe(JobStatus.SUCCEEDED);
      return job;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`job ${id} did not finish`);
}

async function finished(id: string): Promise<Evaluation> {
  for (let i = 0; i < 1200; i++) {
    const e = (await evaluator.getEvaluation({ id })).evaluation;
    if (e && [EvaluationStatus.SUCCEEDED, EvaluationStatus.FAILED, EvaluationStatus.CANCELLED].includes(e.status)) {
      expect(e.error).toBeUndefined();
      return e;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`evaluation ${id} did not finish`);
}

/** The evaluation the evaluator queued on its own after the job's job.completed. */
async function automatic(jobId: string): Promise<Evaluation> {
  for (let i = 0; i < 1200; i++) {
    const l = await evaluator.listEvaluations({
      jobIds: [jobId],
      statuses: [],
      ids: [],
      datasetId: '',
      baseModelId: '',
    });
    const auto = l.evaluations.find((e) => e.trigger === EvaluationTrigger.JOB_COMPLETED);
    if (auto) return finished(auto.id);
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`no automatic evaluation of ${jobId}`);
}

async function lossOf(model: ModelRef): Promise<{ loss: number; evaluation: Evaluation }> {
  const res = await evaluator.evaluateAdapter({
    model,
    datasetId,
    split: DatasetSplit.ALL,
    metrics: [Metric.LOSS],
    maxExamples: 0n,
    numSamples: 0,
    batchSize: 0,
    idempotencyKey: '',
  });
  const e = await finished(res.evaluation?.id ?? '');
  expect(e.status).toBe(EvaluationStatus.SUCCEEDED);
  return { loss: e.results.find((r) => r.metric === Metric.LOSS)?.value ?? Number.NaN, evaluation: e };
}

/** The engine's loss of a model directory (with an adapter on it, if given) over every row of the file. */
async function engineLoss(modelDir: string, adapterDir?: string): Promise<number> {
  const rows = (await readDataRows(sentimentFile)) as ClassificationRow[];
  const tokenizer = await loadTokenizer(baseDir);
  const prepared = prepareTrainingRows(rows, tokenizer, {
    classification: { template: TEMPLATE, labelWords: LABEL_WORDS },
  });
  const m = await openModel(modelDir, { threads: 1, ...(adapterDir && { adapterDir }) });
  try {
    const r = await evaluateLoss(
      await m.session('loss'),
      prepared.rows.map((x) => ({ inputIds: x.input_ids, labels: x.labels })),
      { padId: tokenizer.padTokenId ?? 0 },
    );
    return r.loss;
  } finally {
    await m.release();
  }
}

async function refusal(p: Promise<unknown>): Promise<{ code: Status; details: string }> {
  try {
    await p;
  } catch (err) {
    if (err instanceof ClientError) return { code: err.code, details: err.details };
    throw err;
  }
  throw new Error('the call succeeded');
}

describe('evaluating full fine-tuning and BitFit jobs', () => {
  it('evaluates a full fine-tuning job by job id, checkpoint and job.completed as its own model', async () => {
    const job = await trained(
      jobRequest({ config: { $case: 'full', value: { freezeEmbeddings: false, frozenModules: [] } } }, 'full-1'),
    );
    const outDir = job.adapter?.path ?? '';
    expect(outDir).toBe(join(artefactRoot(store), 'jobs', job.id, 'adapter'));

    const byJob = await lossOf({ target: { $case: 'jobId', value: job.id } });
    expect(byJob.evaluation).toMatchObject({ jobId: job.id, baseModelId, method: MethodKind.FULL, isBaseline: false });
    const direct = await engineLoss(outDir);
    const base = await lossOf({ target: { $case: 'baseModelId', value: baseModelId } });
    expect(base.loss).toBeCloseTo(await engineLoss(baseDir), 5);
    expect(byJob.loss).toBeCloseTo(direct, 5);
    expect(Math.abs(byJob.loss - base.loss)).toBeGreaterThan(1e-2);

    // A checkpoint of the job is a whole model too, with the weights of its step.
    const cks = (await trainer.listCheckpoints({ jobId: job.id })).checkpoints;
    const first = cks.find((c) => c.step === 2n);
    expect(first).toBeDefined();
    const ck = await lossOf({ target: { $case: 'checkpointId', value: first?.id ?? '' } });
    expect(ck.evaluation).toMatchObject({ jobId: job.id, baseModelId, method: MethodKind.FULL });
    expect(ck.loss).toBeCloseTo(
      await engineLoss(join(artefactRoot(store), 'jobs', job.id, 'checkpoints', 'checkpoint-2')),
      5,
    );
    expect(Math.abs(ck.loss - byJob.loss)).toBeGreaterThan(1e-4);

    // job.completed: the evaluator evaluated the job on the validation split, and the base as its baseline.
    const auto = await automatic(job.id);
    expect(auto).toMatchObject({ status: EvaluationStatus.SUCCEEDED, method: MethodKind.FULL, baseModelId });
    expect(auto.split).toBe(DatasetSplit.VALIDATION);
    const board = await evaluator.getLeaderboard({ datasetId, metric: Metric.LOSS, split: DatasetSplit.ALL });
    const entry = board.entries.find((e) => e.evaluationId === byJob.evaluation.id);
    expect(entry).toMatchObject({ method: MethodKind.FULL, jobId: job.id, baseModelId, isBaseline: false });
    expect(entry?.deltaVsBaseline).toBeCloseTo(byJob.loss - base.loss, 9);

    // Nothing to merge; the model exports as it is and evaluates to the same loss.
    const merge = await refusal(
      evaluator.mergeAdapter({
        adapter: { target: { $case: 'jobId', value: job.id } },
        dtype: Dtype.F32,
        name: '',
        skipVerification: false,
      }),
    );
    expect(merge.code).toBe(Status.FAILED_PRECONDITION);
    expect(merge.details).toMatch(/full fine-tuning \(METHOD_KIND_FULL\).*nothing to merge/);
    const fullRef: ModelRef = { target: { $case: 'jobId', value: job.id } };
    const combine = await refusal(
      evaluator.combineAdapters({
        adapters: [
          { adapter: fullRef, weight: 0.5 },
          { adapter: fullRef, weight: 0.5 },
        ],
        combinationType: CombinationType.LINEAR,
        svdRank: 0,
        majoritySignMethod: 0,
        name: '',
      }),
    );
    expect(combine.code).toBe(Status.FAILED_PRECONDITION);
    expect(combine.details).toMatch(/adapters\[0\] \(job .*\) was trained with full fine-tuning/);
    const exported = await evaluator.exportModel({
      model: { target: { $case: 'jobId', value: job.id } },
      format: ExportFormat.SAFETENSORS,
      dtype: Dtype.F32,
      name: '',
      smokePrompt: '',
      skipSmokeTest: false,
    });
    expect(exported.artifact).toMatchObject({ kind: ArtifactKind.MERGED_MODEL, baseModelId });
    expect(exported.artifact?.smokeGeneration?.prompt).toBeTruthy();
    const fromExport = await lossOf({ target: { $case: 'artifactId', value: exported.artifact?.id ?? '' } });
    expect(fromExport.loss).toBeCloseTo(direct, 5);

    // Without the trainer to ask, a full job's base is unknown: a typed refusal, not a guess.
    await expect(
      resolveModel(
        { target: { $case: 'jobId', value: job.id } },
        { modelRoots: [models], adapterRoot: artefactRoot(store) },
      ),
    ).rejects.toThrow(FailedPreconditionError);
  }, 180_000);

  it('evaluates a BitFit job by job id, checkpoint and job.completed on its base', async () => {
    const job = await trained(
      jobRequest({ config: { $case: 'bitfit', value: { targetModules: [], modulesToSave: [] } } }, 'bitfit-1'),
    );
    const outDir = job.adapter?.path ?? '';
    const byJob = await lossOf({ target: { $case: 'jobId', value: job.id } });
    expect(byJob.evaluation).toMatchObject({ jobId: job.id, baseModelId, method: MethodKind.BITFIT });
    expect(byJob.loss).toBeCloseTo(await engineLoss(baseDir, outDir), 5);
    expect(Math.abs(byJob.loss - (await engineLoss(baseDir)))).toBeGreaterThan(1e-3);
    const ckDir = join(artefactRoot(store), 'jobs', job.id, 'checkpoints', 'checkpoint-2');
    const ck = await lossOf({ target: { $case: 'checkpointId', value: `${job.id}-ckpt-2` } });
    expect(ck.evaluation).toMatchObject({ jobId: job.id, method: MethodKind.BITFIT });
    expect(ck.loss).toBeCloseTo(await engineLoss(baseDir, ckDir), 5);
    const auto = await automatic(job.id);
    expect(auto).toMatchObject({ status: EvaluationStatus.SUCCEEDED, method: MethodKind.BITFIT, baseModelId });
    const board = await evaluator.getLeaderboard({ datasetId, metric: Metric.LOSS, split: DatasetSplit.VALIDATION });
    expect(board.entries.find((e) => e.evaluationId === auto.id)?.method).toBe(MethodKind.BITFIT);
  }, 180_000);

  it('refuses a whole model that does not fit its base, and a job the trainer does not know', async () => {
    const adapterRoot = join(tmp, 'flat');
    const odd = join(adapterRoot, 'job-odd');
    await cp(baseDir, odd, { recursive: true });
    const config = JSON.parse(await readFile(join(odd, 'config.json'), 'utf8')) as Record<string, unknown>;
    await writeFile(join(odd, 'config.json'), JSON.stringify({ ...config, vocab_size: Number(config.vocab_size) + 1 }));
    const registry = (jobs: Record<string, string>) => ({
      pathOf: async () => undefined,
      idOf: async () => undefined,
      jobBaseModelId: async (id: string) => jobs[id],
      close: () => {},
    });
    const ref: ModelRef = { target: { $case: 'jobId', value: 'job-odd' } };
    await expect(
      resolveModel(ref, { modelRoots: [models], adapterRoot, registry: registry({ 'job-odd': 'tiny' }) }),
    ).rejects.toThrow(/job-odd's model at .* has vocab_size \d+, its base tiny has \d+/);
    await expect(resolveModel(ref, { modelRoots: [models], adapterRoot, registry: registry({}) })).rejects.toThrow(
      NotFoundError,
    );
  });
});
