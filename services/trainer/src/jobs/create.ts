// CreateFineTuneJob: everything knowable at create time is checked here — the model and dataset exist, the
// dataset is READY, the method fits the model (the engine applies it, which finds a missing target module),
// hyperparameters are in range — then the job is recorded, put on the work queue and announced.

import { createHash, randomUUID } from 'node:crypto';
import { getMethod, loadModelDir, type ModelDir, type ParamCount, prepareMethodConfig } from '@tunemesh/engine';
import {
  AlreadyExistsError,
  ClientError,
  FailedPreconditionError,
  InvalidArgumentError,
  NotFoundError,
  type ServiceClient,
  Status,
} from '@tunemesh/kit';
import {
  type BaseModel,
  CreateFineTuneJobRequest,
  type Dataset,
  type DatasetServiceDefinition,
  DatasetStatus,
  type FineTuneJob,
  JobStatus,
  Metric,
} from '@tunemesh/proto';
import { isCodedError } from '../engine-errors.js';
import type { BaseModels } from '../models.js';
import type { JobRecords } from '../store/jobs.js';
import { resolveJobHyperparameters } from './hyperparameters.js';
import { type EngineMethod, engineMethod, filledMethodSpec } from './method.js';

export interface CreateDeps {
  models: BaseModels;
  jobs: JobRecords;
  datasets: ServiceClient<typeof DatasetServiceDefinition>;
  /** Puts the job on the work queue and publishes job.queued; the job is QUEUED after it. */
  enqueue(job: FineTuneJob, model: BaseModel): Promise<FineTuneJob>;
}

/** The last loaded model, kept so a burst of creates on one model loads its weights once. */
let cached: { path: string; sha: string; model: Promise<ModelDir> } | undefined;

function loadCached(m: BaseModel): Promise<ModelDir> {
  if (cached?.path !== m.path || cached.sha !== m.sha256) {
    const model = loadModelDir(m.path);
    cached = { path: m.path, sha: m.sha256, model };
    model.catch(() => {
      cached = undefined;
    });
  }
  return cached.model;
}

async function dataset(deps: CreateDeps, id: string): Promise<Dataset> {
  if (id === '') throw new InvalidArgumentError('dataset_id is required', { field: 'dataset_id' });
  try {
    const r = await deps.datasets.getDataset({ id });
    if (r.dataset === undefined) throw new NotFoundError(`dataset ${JSON.stringify(id)} does not exist`);
    return r.dataset;
  } catch (err) {
    if (err instanceof ClientError && err.code === Status.NOT_FOUND)
      throw new NotFoundError(`dataset ${JSON.stringify(id)} does not exist`, { cause: err });
    throw err;
  }
}

/** Applies the method to the model as the node will, so a target module the model lacks fails now. */
async function applyToModel(model: BaseModel, method: EngineMethod, seed: number): Promise<ParamCount> {
  let dir: ModelDir;
  try {
    dir = await loadCached(model);
  } catch (err) {
    throw new FailedPreconditionError(
      `base model ${model.id} can no longer be loaded from ${model.path}: ${err instanceof Error ? err.message : String(err)}`,
      { cause: err },
    );
  }
  try {
    // prompt tuning's TEXT init tokenizes its text first
    const config = await prepareMethodConfig(method.name, method.config, model.path);
    const applied = getMethod(method.name).apply(
      { config: dir.config, weights: dir.weights, dir: model.path },
      config,
      {
        seed,
      },
    );
    return applied.countParams();
  } catch (err) {
    if (!isCodedError(err)) throw err;
    const field = err.code === 'unknown-target' ? `method.${method.name}.target_modules` : `method.${method.name}`;
    throw new InvalidArgumentError(`${field}: ${err.message}`, { field, cause: err });
  }
}

function requestHash(req: CreateFineTuneJobRequest): string {
  return createHash('sha256').update(CreateFineTuneJobRequest.encode(req).finish()).digest('hex');
}

export async function createJob(
  deps: CreateDeps,
  req: CreateFineTuneJobRequest,
): Promise<{ job: FineTuneJob; alreadyExisted: boolean }> {
  const key = req.idempotencyKey;
  if (key === '' || key.length > 200)
    throw new InvalidArgumentError('idempotency_key is required (at most 200 characters)', {
      field: 'idempotency_key',
    });
  const hash = requestHash(req);
  const earlier = await deps.jobs.byKey(key);
  if (earlier !== undefined) return sameOrConflict(earlier, hash);

  if (req.baseModelId === '') throw new InvalidArgumentError('base_model_id is required', { field: 'base_model_id' });
  const model = await deps.models.get(req.baseModelId);
  if (model === undefined) throw new NotFoundError(`base model ${JSON.stringify(req.baseModelId)} does not exist`);
  const data = await dataset(deps, req.datasetId);
  if (data.status !== DatasetStatus.READY)
    throw new FailedPreconditionError(`dataset ${data.id} is ${DatasetStatus[data.status]}, not READY`);
  const method = engineMethod(req.method);
  const hyperparameters = resolveJobHyperparameters(req.hyperparameters, method.kind, {
    hasValidation: (data.rows?.validation ?? 0n) > 0n,
  });
  const counts = await applyToModel(model, method, hyperparameters.seed ?? 42);
  const now = new Date();
  const id = `job-${randomUUID()}`;
  const job: FineTuneJob = {
    id,
    name: req.name !== '' ? req.name : `${method.name}-${model.name}-${data.name}`,
    idempotencyKey: key,
    status: JobStatus.VALIDATING,
    baseModelId: model.id,
    datasetId: data.id,
    method: filledMethodSpec(req.method ?? {}, method, model.defaultTargetModules),
    hyperparameters,
    evaluationMetrics: req.evaluationMetrics.length > 0 ? req.evaluationMetrics : [Metric.LOSS, Metric.PERPLEXITY],
    failure: undefined,
    trainableParams: BigInt(counts.trainable),
    totalParams: BigInt(counts.total),
    progress: {
      step: 0n,
      totalSteps: 0n,
      epoch: 0,
      tokensSeen: 0n,
      lastSequence: 0n,
    },
    latestCheckpointId: '',
    nodeId: '',
    attempt: 0,
    cancelRequested: false,
    labels: { ...req.labels },
    createdAt: now,
    updatedAt: now,
  };
  const stored = await deps.jobs.insert(job, hash, method.kind);
  // A concurrent create with the same key inserted first: answer as a retry would be answered.
  if (!stored.inserted) return sameOrConflict(stored, hash);
  return { job: await deps.enqueue(job, model), alreadyExisted: false };
}

function sameOrConflict(
  earlier: { job: FineTuneJob; requestHash: string },
  hash: string,
): { job: FineTuneJob; alreadyExisted: boolean } {
  if (earlier.requestHash !== hash)
    throw new AlreadyExistsError(
      `idempotency_key ${JSON.stringify(earlier.job.idempotencyKey)} was used for another request (job ${earlier.job.id})`,
    );
  return { job: earlier.job, alreadyExisted: true };
}
