// One job on a trainer node, from the work item to its terminal event: the engine trains for real (the job's
// method and hyperparameters, data streamed from the dataset service), checkpoints go to the artefact store,
// every logged step is a JobProgress event, and the end is completed, failed or cancelled. Cancel and drain
// first checkpoint the step in progress (the engine's stopRequest). A job released by a draining node publishes
// `queued` again and ends nothing: the next node resumes from that checkpoint.

import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import {
  checkpointDirName,
  dequantizedWeights,
  getMethod,
  type LossHistory,
  latestCheckpoint,
  listCheckpoints,
  loadModelDir,
  prepareMethodConfig,
  quantizeModel,
  readLossHistory,
  TrainError,
  type TrainModel,
  type TrainResult,
  train,
  writeLossChartFile,
  writeLossHistorySync,
} from '@tunemesh/engine';
import { ClientError, type Logger, type ServiceClient } from '@tunemesh/kit';
import {
  type ArtifactRef,
  type DatasetServiceDefinition,
  DatasetSplit,
  type JobEvent,
  JobFailureCode,
  JobProgress,
  JobStarted,
  jobCancelSubject,
  jobSubject,
  Quantization,
  STREAMS,
  type TrainWorkItem,
} from '@tunemesh/proto';
import { type JetStreamClient, type JetStreamManager, type NatsConnection, NatsError } from 'nats';
import { lastJobEvent, publishJobEvent } from '../events.js';
import { engineHyperparameters } from '../jobs/hyperparameters.js';
import { engineMethod, METHOD_KIND_OF } from '../jobs/method.js';
import { bestStep, retainedSteps } from '../jobs/retention.js';
import { checkpointId, jobArtefacts } from '../layout.js';
import { hashedRef, sizedRef } from './artefact-ref.js';
import { streamRows } from './data.js';

export interface JobContext {
  nodeId: string;
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
  datasets: ServiceClient<typeof DatasetServiceDefinition>;
  artefactRoot: string;
  logger: Logger;
  threads?: number;
}

/** `ended`: acknowledge the work item. `released`: hand it back to the queue (node draining). */
export type JobOutcome = 'ended' | 'released';

/** Why a running job is aborted. */
export type StopReason = { kind: 'cancel'; reason: string } | { kind: 'drain' };

class JobFailure extends Error {
  constructor(
    readonly code: JobFailureCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

const NO_MESSAGE = 10037;

async function lastOfKind<T>(
  jsm: JetStreamManager,
  subject: string,
  decode: (d: Uint8Array) => T,
): Promise<T | undefined> {
  try {
    const m = await jsm.streams.getMessage(STREAMS.jobEvents.name, { last_by_subj: subject });
    return decode(m.data);
  } catch (err) {
    if (err instanceof NatsError && err.api_error?.err_code === NO_MESSAGE) return undefined;
    throw err;
  }
}

async function cancelRequested(jsm: JetStreamManager, jobId: string): Promise<string | undefined> {
  try {
    const m = await jsm.streams.getMessage(STREAMS.trainerControl.name, { last_by_subj: jobCancelSubject(jobId) });
    return m.subject === jobCancelSubject(jobId) ? 'cancelled while queued' : undefined;
  } catch (err) {
    if (err instanceof NatsError && err.api_error?.err_code === NO_MESSAGE) return undefined;
    throw err;
  }
}

function failureOf(err: unknown): JobFailure {
  if (err instanceof JobFailure) return err;
  const msg = err instanceof Error ? err.message : String(err);
  if (err instanceof TrainError) {
    if (err.code === 'non_finite') return new JobFailure(JobFailureCode.DIVERGED, msg, { cause: err });
    if (err.code === 'checkpoint_write') return new JobFailure(JobFailureCode.ARTIFACT_ERROR, msg, { cause: err });
    if (err.code === 'empty_dataset') return new JobFailure(JobFailureCode.DATASET_ERROR, msg, { cause: err });
  }
  if (/out of memory|bad_alloc/i.test(msg)) return new JobFailure(JobFailureCode.OUT_OF_MEMORY, msg, { cause: err });
  return new JobFailure(JobFailureCode.ENGINE_ERROR, msg, { cause: err });
}

export async function runJob(ctx: JobContext, item: TrainWorkItem, stop: AbortSignal): Promise<JobOutcome> {
  const jobId = item.jobId;
  const { js, jsm } = ctx;
  const last = await lastJobEvent(jsm, jobId);
  if (last.kind === 'completed' || last.kind === 'failed' || last.kind === 'cancelled') return 'ended';
  let seq = last.sequence;
  // Events go out in order, one at a time; a callback of the (synchronous) training loop only appends.
  let chain: Promise<unknown> = Promise.resolve();
  const emit = (make: (sequence: bigint) => JobEvent): Promise<{ stored: boolean }> => {
    seq += 1n;
    const event = make(seq);
    const p = chain.then(() => publishJobEvent(js, event));
    chain = p.catch((err: unknown) => ctx.logger.warn({ err, jobId }, 'could not publish a job event'));
    return p;
  };

  const queuedCancel = await cancelRequested(jsm, jobId);
  if (queuedCancel !== undefined) {
    await emit((sequence) => ({
      $case: 'cancelled',
      value: { jobId, sequence, reason: queuedCancel, step: 0n, lastCheckpointId: '', occurredAt: new Date() },
    }));
    return 'ended';
  }

  const abort = new AbortController();
  let stopReason: StopReason | undefined;
  const onStop = () => {
    stopReason ??= { kind: 'drain' };
    abort.abort();
  };
  stop.addEventListener('abort', onStop, { once: true });
  const cancelSub = ctx.nc.subscribe(jobCancelSubject(jobId), {
    callback: () => {
      stopReason = { kind: 'cancel', reason: 'cancel requested' };
      abort.abort();
    },
  });

  const art = jobArtefacts(ctx.artefactRoot, jobId);
  let step = 0;
  let lastCheckpoint = '';
  let attempt = 0;
  try {
    const method = engineMethod(item.method);
    const hp = item.hyperparameters;
    if (hp === undefined) throw new JobFailure(JobFailureCode.INTERNAL, 'the work item has no hyperparameters');
    const ehp = engineHyperparameters(hp);
    let base: Awaited<ReturnType<typeof loadModelDir>>;
    try {
      base = await loadModelDir(item.baseModelPath);
    } catch (err) {
      throw new JobFailure(JobFailureCode.MODEL_ERROR, `cannot load the base model: ${(err as Error).message}`, {
        cause: err,
      });
    }
    // prompt tuning's TEXT init tokenizes its text first
    const methodConfig = await prepareMethodConfig(method.name, method.config, item.baseModelPath);
    let model: TrainModel = { config: base.config, weights: base.weights };
    if (hp.quantization === Quantization.INT8 || hp.quantization === Quantization.INT4) {
      try {
        const q = quantizeModel(base.config, base.weights, {
          mode: hp.quantization === Quantization.INT8 ? 'int8' : 'int4',
          ...(hp.quantBlockSize === undefined ? {} : { blockSize: hp.quantBlockSize }),
        });
        model = { config: base.config, weights: q.weights, quantized: q.quantized };
        for (const n of q.quantized.keys()) base.weights.delete(n); // the loaded float copies: not kept
      } catch (err) {
        // e.g. an int4 block size that does not divide a layer's input dimension: the message names what fits
        throw new JobFailure(JobFailureCode.MODEL_ERROR, `cannot quantize the base model: ${(err as Error).message}`, {
          cause: err,
        });
      }
    }
    // On a quantized base the method is applied to the weights the quantized model computes with.
    const applyWeights =
      model.quantized === undefined ? base.weights : dequantizedWeights(model as Required<TrainModel>);
    const applied = getMethod(method.name).apply(
      { config: base.config, weights: applyWeights, dir: item.baseModelPath },
      methodConfig,
      { seed: ehp.seed ?? 42 },
    );
    // The dequantized copies were only for apply(): drop them (training reads the quantized weights).
    for (const n of model.quantized?.keys() ?? []) if (applyWeights !== base.weights) applyWeights.delete(n);
    let rows: Awaited<ReturnType<typeof streamRows>>;
    let valRows: typeof rows | undefined;
    try {
      const req = { datasetId: item.datasetId, modelPath: item.baseModelPath, maxLength: hp.maxSeqLength };
      rows = await streamRows(ctx.datasets, { ...req, split: DatasetSplit.TRAIN }, abort.signal);
      if (ehp.evalEvery !== undefined)
        valRows = await streamRows(ctx.datasets, { ...req, split: DatasetSplit.VALIDATION }, abort.signal);
    } catch (err) {
      if (abort.signal.aborted) throw err;
      const why = err instanceof ClientError ? err.details : (err as Error).message;
      throw new JobFailure(JobFailureCode.DATASET_ERROR, `cannot stream the dataset: ${why}`, { cause: err });
    }

    await mkdir(art.checkpoints, { recursive: true });
    const resumeFrom = await latestCheckpoint(art.checkpoints);
    // Checkpoint steps on disk (earlier attempts' too) and their validation losses, for retention and is_best.
    const saved = new Set((await listCheckpoints(art.checkpoints)).map((c) => c.step));
    const savedWithLoss = () =>
      [...saved].map((s) => ({ step: s, validationLoss: history.val.find((v) => v.step === s)?.loss }));
    const history: LossHistory = resumeFrom === undefined ? { train: [], val: [] } : await readLossHistory(resumeFrom);
    const prevStarted = await lastOfKind(jsm, jobSubject(jobId, 'started'), (d) => JobStarted.decode(d));
    const prevProgress = await lastOfKind(jsm, jobSubject(jobId, 'progress'), (d) => JobProgress.decode(d));
    // Steps a lost node already reported are not reported again: the history has no duplicate step.
    const reportedUpTo = Number(prevProgress?.step ?? 0n);
    const elapsedBefore = prevProgress?.elapsedSeconds ?? 0;
    const resumedStep = resumeFrom === undefined ? 0 : Number(/checkpoint-(\d+)$/.exec(resumeFrom)?.[1] ?? 0);
    attempt = (prevStarted?.attempt ?? 0) + 1;
    const counts = applied.countParams();
    const startedEvent = (sequence: bigint): JobEvent => ({
      $case: 'started',
      value: {
        jobId,
        sequence,
        nodeId: ctx.nodeId,
        attempt,
        resumedFromCheckpointId: resumeFrom === undefined ? '' : checkpointId(jobId, resumedStep),
        resumedFromStep: BigInt(resumedStep),
        totalSteps: 0n,
        trainableParams: BigInt(counts.trainable),
        totalParams: BigInt(counts.total),
        occurredAt: new Date(),
      },
    });
    // Another publisher took this sequence first. If it ended the job (the service cancelled it while queued),
    // the job never starts; otherwise (an event we had not seen yet) continue after it.
    for (let tries = 0; ; tries++) {
      const r = await emit(startedEvent);
      if (r.stored) break;
      const now = await lastJobEvent(jsm, jobId);
      if (now.kind === 'completed' || now.kind === 'failed' || now.kind === 'cancelled' || tries >= 5) return 'ended';
      seq = now.sequence;
    }
    step = resumedStep;
    if (resumeFrom !== undefined) lastCheckpoint = checkpointId(jobId, resumedStep);

    let tokensSeen = Number(prevProgress?.tokensSeen ?? 0n);
    let lastLogElapsed = 0;
    let lastEpoch = 0;
    let lastLoss = Number.NaN;
    const result: TrainResult = await train({
      model,
      method: applied,
      train: rows,
      ...(valRows !== undefined && { validation: valRows }),
      hyperparameters: ehp,
      outputDir: art.checkpoints,
      ...(resumeFrom !== undefined && { resumeFrom }),
      padId: base.config.padTokenId ?? 0,
      ...(ctx.threads !== undefined && { threads: ctx.threads }),
      ...(hp.gradientCheckpointing && { gradientCheckpointing: true }),
      // This job loaded its own base and only saves the method's params: free the base once the sessions hold it.
      releaseFrozenWeights: true,
      // Cancel and drain are "save then stop": the loop ends the step in progress, checkpoints it and returns
      // 'stopped', so a released job resumes exactly there and a cancelled one keeps its last step.
      stopRequest: abort.signal,
      callbacks: {
        onLog(e) {
          step = e.step;
          lastEpoch = e.epoch;
          // The loop reports a rate over the interval since its last log; rate × interval is the tokens in it.
          tokensSeen += Math.round(e.tokensPerSecond * (e.elapsedS - lastLogElapsed));
          lastLogElapsed = e.elapsedS;
          if (Number.isFinite(e.loss)) {
            history.train.push({ step: e.step, loss: e.loss });
            lastLoss = e.loss;
          }
          if (e.step <= reportedUpTo) return;
          void emit((sequence) => ({
            $case: 'progress',
            value: {
              jobId,
              sequence,
              step: BigInt(e.step),
              totalSteps: BigInt(e.totalSteps),
              epoch: e.epoch,
              loss: e.loss,
              learningRate: e.lr,
              gradNorm: e.gradNorm,
              tokensPerSecond: e.tokensPerSecond,
              tokensSeen: BigInt(tokensSeen),
              elapsedSeconds: elapsedBefore + e.elapsedS,
              ...(e.step < e.totalSteps && { remainingSeconds: e.remainingS }),
              ...(e.valLoss !== undefined && { validationLoss: e.valLoss }),
              peakMemoryBytes: BigInt(Math.round(e.peakRssMb * 1024 * 1024)),
              occurredAt: new Date(),
            },
          }));
        },
        onNonFinite(e) {
          // A failure names the step that diverged, which has no log of its own.
          step = Math.max(step, e.step);
        },
        onEval(e) {
          history.val.push({ step: e.step, loss: e.valLoss });
        },
        onCheckpoint(e) {
          writeLossHistorySync(e.dir, history);
          lastCheckpoint = checkpointId(jobId, e.step);
          step = Math.max(step, e.step);
          const id = lastCheckpoint;
          const now = new Date();
          saved.add(e.step);
          const kept = savedWithLoss();
          const validationLoss = kept.find((c) => c.step === e.step)?.validationLoss;
          const isBest = bestStep(kept) === e.step;
          const keep = retainedSteps(kept, hp.saveTotalLimit);
          const prune = [...saved].filter((s) => !keep.has(s));
          for (const s of prune) saved.delete(s);
          void emit((sequence) => ({
            $case: 'checkpoint',
            value: {
              jobId,
              sequence,
              checkpoint: {
                id,
                jobId,
                step: BigInt(e.step),
                epoch: lastEpoch,
                ...(Number.isFinite(lastLoss) && { loss: lastLoss }),
                ...(validationLoss !== undefined && { validationLoss }),
                artifact: sizedRef(e.dir),
                isBest,
                sequence,
                createdAt: now,
              },
              occurredAt: now,
            },
          }));
          void writeLossChartFile(art.lossChart, history, `${method.name} · ${jobId}`).catch(() => undefined);
          // save_total_limit: older checkpoints go (never the newest, never the best); the service drops their
          // records by the same rule when it sees this checkpoint.
          for (const s of prune) {
            chain = chain.then(() =>
              rm(join(art.checkpoints, checkpointDirName(s)), { recursive: true, force: true }).catch((err: unknown) =>
                ctx.logger.warn({ err, jobId, step: s }, 'could not prune a checkpoint'),
              ),
            );
          }
        },
      },
    });
    if (result.stopReason === 'stopped') {
      step = result.steps;
      return await stopped();
    }
    await rm(art.adapter, { recursive: true, force: true });
    let adapterRef: ArtifactRef;
    try {
      await applied.save(art.adapter, applied.params);
      await writeLossChartFile(art.lossChart, history, `${method.name} · ${jobId}`);
      adapterRef = await hashedRef(art.adapter);
    } catch (err) {
      throw new JobFailure(JobFailureCode.ARTIFACT_ERROR, `cannot write the adapter: ${(err as Error).message}`, {
        cause: err,
      });
    }
    await emit((sequence) => ({
      $case: 'completed',
      value: {
        jobId,
        sequence,
        baseModelId: item.baseModelId,
        datasetId: item.datasetId,
        method: METHOD_KIND_OF[method.name] ?? 0,
        adapter: adapterRef,
        steps: BigInt(result.steps),
        finalLoss: result.losses.at(-1)?.loss ?? Number.NaN,
        ...(result.valLosses.length > 0 && { finalValidationLoss: result.valLosses.at(-1)?.loss }),
        trainableParams: BigInt(counts.trainable),
        totalParams: BigInt(counts.total),
        evaluationMetrics: item.evaluationMetrics,
        elapsedSeconds: elapsedBefore + result.stepSeconds * Math.max(1, result.steps - resumedStep),
        occurredAt: new Date(),
      },
    }));
    return 'ended';
  } catch (err) {
    if (abort.signal.aborted && stopReason !== undefined) return await stopped();
    const f = failureOf(err);
    ctx.logger.warn({ err, jobId }, 'job failed');
    await emit((sequence) => ({
      $case: 'failed',
      value: {
        jobId,
        sequence,
        failure: { code: f.code, message: f.message, step: BigInt(step) },
        lastCheckpointId: lastCheckpoint,
        occurredAt: new Date(),
      },
    }));
    return 'ended';
  } finally {
    cancelSub.unsubscribe();
    stop.removeEventListener('abort', onStop);
    await chain;
  }

  /** A drained job goes back to the queue; a cancelled one ends with the step and checkpoint it reached. */
  async function stopped(): Promise<JobOutcome> {
    if (stopReason?.kind === 'drain') {
      await emit((sequence) => ({
        $case: 'queued',
        value: {
          jobId,
          sequence,
          baseModelId: item.baseModelId,
          datasetId: item.datasetId,
          method: METHOD_KIND_OF[item.method?.config?.$case ?? ''] ?? 0,
          previousAttempts: attempt,
          occurredAt: new Date(),
        },
      }));
      return 'released';
    }
    const reason = stopReason?.kind === 'cancel' ? stopReason.reason : 'cancel requested';
    await emit((sequence) => ({
      $case: 'cancelled',
      value: {
        jobId,
        sequence,
        reason,
        step: BigInt(step),
        lastCheckpointId: lastCheckpoint,
        occurredAt: new Date(),
      },
    }));
    return 'ended';
  }
}
