// The training loop. One session runs the training graph (loss-mode forward + backward wrt the params); each
// micro-batch gives the gradient of its summed token NLL. Over an accumulation window those are added and
// divided by the window's loss-token count, so one optimiser step's loss and gradient are those of the mean
// over every loss-carrying token of the window (Hugging Face's rule; with gradAccum 1 the batch mean). Then:
// non-finite check (skip, count, fail after N in a row), global-norm clipping, the scheduled learning rate and
// the optimiser's in-place update of the params' Float32Arrays.

import { planBatches } from '../data/batches.js';
import { CAUSAL_LM_NAMES } from '../models/causal-lm.js';
import type { TensorData } from '../onnx/ir.js';
import { createSession, openResidentTrainer, type ResidentTrainer, type Session } from '../onnx/runtime.js';
import { checkFingerprint, readCheckpoint, saveCheckpoint, type TrainerState } from './checkpoint.js';
import { clipByGlobalNorm, normOfSums } from './clip.js';
import { CheckpointMismatchError, TrainError } from './errors.js';
import { computeFingerprint } from './fingerprint.js';
import { buildTrainGraphs, type TrainGraphs } from './graphs.js';
import { type ResolvedHyperparameters, resolveHyperparameters } from './hyperparameters.js';
import { LossScaler } from './mixed-precision.js';
import { createAdamW } from './optim/adamw.js';
import { createSgd } from './optim/sgd.js';
import type { Optimizer } from './optim/types.js';
import { assertWeightsPresent, releaseFrozenWeights } from './release.js';
import type { OptimizerSpec } from './resident.js';
import { createSchedule } from './schedule.js';
import { batchFeeds, residentWindow, scalarOf, windowGradient } from './step.js';
import type { StopReason, TrainOptions, TrainResult, TrainRow } from './types.js';

const N = CAUSAL_LM_NAMES;

/** Steps per epoch and in total, as transformers' Trainer counts them (a short last window still steps). */
export function countSteps(
  rows: number,
  hp: Pick<ResolvedHyperparameters, 'batchSize' | 'gradAccum' | 'epochs' | 'maxSteps'>,
): { batchesPerEpoch: number; stepsPerEpoch: number; totalSteps: number } {
  const batchesPerEpoch = Math.ceil(rows / hp.batchSize);
  const stepsPerEpoch = Math.ceil(batchesPerEpoch / hp.gradAccum);
  const totalSteps = hp.maxSteps ?? Math.max(1, Math.ceil(hp.epochs * stepsPerEpoch));
  return { batchesPerEpoch, stepsPerEpoch, totalSteps };
}

/** Loss-carrying positions of a row after the model's shift (a label at position 0 scores nothing). */
function scoredTokens(r: TrainRow): number {
  if (r.labels === undefined) return Math.max(0, r.input_ids.length - 1);
  let n = 0;
  for (let k = 1; k < r.labels.length; k++) if (r.labels[k] !== -100) n++;
  return n;
}

function peakRssMb(): number {
  return process.resourceUsage().maxRSS / 1024;
}

function f32Params(params: ReadonlyMap<string, TensorData>): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  for (const [name, t] of params) {
    if (t.dtype !== 'float32' || !(t.data instanceof Float32Array)) {
      throw new TrainError('bad_hyperparameter', `param '${name}' is ${t.dtype}; trainable tensors must be float32`);
    }
    out.set(name, t.data);
  }
  return out;
}

/** Validation loss: summed token NLL over the whole set divided by its loss-token count. */
export async function validationLoss(
  session: Session,
  rows: readonly TrainRow[],
  params: ReadonlyMap<string, TensorData>,
  batchSize: number,
  padId: number,
): Promise<{ loss: number; tokens: number }> {
  let sum = 0;
  let tokens = 0;
  for (let s = 0; s < rows.length; s += batchSize) {
    const { feeds } = batchFeeds(rows.slice(s, s + batchSize), padId);
    for (const [k, t] of params) feeds[k] = t;
    const out = await session.run(feeds, [N.lossSum, N.lossTokens]);
    sum += scalarOf(out[N.lossSum]);
    tokens += scalarOf(out[N.lossTokens]);
  }
  return { loss: tokens > 0 ? sum / tokens : Number.NaN, tokens };
}

function makeOptimizer(
  hp: ResolvedHyperparameters,
  sizes: Map<string, number>,
  noDecay: ReadonlySet<string>,
): Optimizer {
  return hp.optimizer === 'adamw'
    ? createAdamW(sizes, { betas: hp.betas, eps: hp.eps, weightDecay: hp.weightDecay, noDecay })
    : createSgd(sizes, { momentum: hp.momentum, nesterov: hp.nesterov, weightDecay: hp.weightDecay, noDecay });
}

function optimizerSpec(hp: ResolvedHyperparameters, noDecay: ReadonlySet<string>): OptimizerSpec {
  return hp.optimizer === 'adamw'
    ? { name: 'adamw', betas: hp.betas, eps: hp.eps, weightDecay: hp.weightDecay, noDecay: [...noDecay] }
    : {
        name: 'sgd',
        momentum: hp.momentum,
        nesterov: hp.nesterov,
        weightDecay: hp.weightDecay,
        noDecay: [...noDecay],
      };
}

/**
 * The saved data position is a batch index into the plan of its epoch; the plan depends on these settings, so
 * a resume that changes them would continue at a meaningless place. Other settings (lr, steps) may change.
 */
function checkDataOrder(dir: string, saved: ResolvedHyperparameters, now: ResolvedHyperparameters): void {
  for (const k of ['batchSize', 'seed', 'shuffle', 'groupByLength'] as const) {
    if (saved[k] !== now[k]) {
      throw new CheckpointMismatchError(
        'data_order',
        `resume from ${dir}: ${k} was ${String(saved[k])} in the checkpoint's run and is ${String(now[k])} now; the saved data position needs the same batch order`,
      );
    }
  }
}

export async function train(opts: TrainOptions): Promise<TrainResult> {
  const hp = resolveHyperparameters(opts.hyperparameters);
  const { model, method } = opts;
  const rows = opts.train;
  const val = opts.validation ?? [];
  const padId = opts.padId ?? 0;
  if (rows.length === 0) throw new TrainError('empty_dataset', 'the training set is empty (no rows)');
  if (!rows.some((r) => scoredTokens(r) > 0)) {
    throw new TrainError('empty_dataset', `none of the ${rows.length} training rows has a token that carries loss`);
  }
  if (hp.evalEvery !== undefined && val.length === 0) {
    throw new TrainError('bad_hyperparameter', 'evalEvery is set but there is no validation set');
  }
  if (hp.earlyStoppingPatience !== undefined && hp.evalEvery === undefined) {
    throw new TrainError('bad_hyperparameter', 'earlyStoppingPatience needs evaluations (set evalEvery)');
  }
  if ((hp.saveEvery !== undefined || hp.saveEachEpoch) && opts.outputDir === undefined) {
    throw new TrainError('bad_hyperparameter', 'saveEvery/saveEachEpoch need an outputDir for the checkpoints');
  }
  if (method.params.size === 0)
    throw new TrainError('bad_hyperparameter', `method '${method.method}' has no trainable params`);
  assertWeightsPresent(model, 'train');
  // Learned positions (GPT-2) end at n_positions; prompt learning's virtual tokens take the first of them.
  if (model.config.family === 'gpt2') {
    const virtual = method.extensions?.virtual?.count ?? 0;
    const longest = Math.max(...rows.map((r) => r.input_ids.length), ...val.map((r) => r.input_ids.length));
    const limit = model.config.maxPositionEmbeddings;
    if (longest + virtual > limit)
      throw new TrainError(
        'bad_hyperparameter',
        `rows of up to ${longest} tokens${virtual > 0 ? ` after ${virtual} virtual tokens (num_virtual_tokens)` : ''} exceed ${model.config.architecture}'s ${limit} positions; cut rows to ${limit - virtual} tokens (max sequence length)${virtual > 0 ? ' or use fewer virtual tokens' : ''}`,
      );
  }

  const { totalSteps } = countSteps(rows.length, hp);
  const schedule = createSchedule({
    name: hp.scheduler,
    totalSteps,
    warmupSteps: hp.warmupSteps,
    warmupRatio: hp.warmupRatio,
  });
  const params = f32Params(method.params);
  const sizes = new Map([...params].map(([n, a]) => [n, a.length]));
  // Resident (the default): params, gradients and optimiser live in the session's worker (train/resident.ts);
  // the main thread's optimiser then exists only to check and carry a resumed run's state there.
  const resident = opts.residentOptimizer !== false;
  let optimizer: Optimizer | undefined =
    resident && opts.resumeFrom === undefined ? undefined : makeOptimizer(hp, sizes, method.noDecay);
  let optimizerStep = 0;
  const fingerprint = computeFingerprint(model, method, rows);

  let step = 0;
  let epoch = 0;
  let batchInEpoch = 0;
  let inARow = 0;
  let nonFiniteTotal = 0;
  let best = Number.POSITIVE_INFINITY;
  let badEvals = 0;
  if (opts.resumeFrom !== undefined) {
    const ck = await readCheckpoint(opts.resumeFrom);
    checkFingerprint(opts.resumeFrom, ck.state.fingerprint, fingerprint);
    checkDataOrder(opts.resumeFrom, resolveHyperparameters(ck.state.hyperparameters), hp);
    if (ck.state.optimizer.name !== hp.optimizer) {
      throw new TrainError(
        'checkpoint_mismatch',
        `resume from ${opts.resumeFrom}: the checkpoint's optimizer is ${ck.state.optimizer.name}, this run uses ${hp.optimizer}`,
      );
    }
    for (const [n, a] of params) {
      const saved = ck.params.get(n);
      if (saved === undefined || saved.length !== a.length) {
        throw new TrainError(
          'bad_checkpoint',
          `resume from ${opts.resumeFrom}: params.safetensors lacks '${n}' or its shape differs`,
        );
      }
      a.set(saved);
    }
    optimizer?.load(ck.state.optimizer.step, ck.optimizer);
    optimizerStep = ck.state.optimizer.step;
    step = ck.state.step;
    epoch = ck.state.data.epoch;
    batchInEpoch = ck.state.data.batch;
    inARow = ck.state.nonFinite.inARow;
    nonFiniteTotal = ck.state.nonFinite.total;
    best = ck.state.earlyStopping.best ?? Number.POSITIVE_INFINITY;
    badEvals = ck.state.earlyStopping.badEvals;
  }

  const precision = opts.precision ?? 'float32';
  // Dropped (with releaseFrozenWeights) once the sessions exist: the graphs hold the weights as initialisers.
  let graphs: TrainGraphs | undefined = buildTrainGraphs(model, method, {
    gradientCheckpointing: opts.gradientCheckpointing === true,
    ...(opts.recomputeAttention === false && { recomputeAttention: false }),
    precision,
  });
  const gradients = graphs.gradients;
  // Dynamic loss scaling for half precision: an overflowing step is skipped like any non-finite one, and halves it.
  const scaler = precision === 'float32' ? undefined : new LossScaler(2 ** 12);
  const sessionOpts = {
    ...(opts.device === undefined ? {} : { device: opts.device }),
    ...(opts.threads === undefined ? {} : { threads: opts.threads }),
  };
  // No pre-packed weight copies: the training graph reads each frozen weight in two orientations, so packing
  // would hold two extra copies of the model for a step that measured no faster with them (bench/README.md).
  const trainSession = await createSession(graphs.train, { ...sessionOpts, prepack: false });
  let trainer: ResidentTrainer | undefined;
  if (resident) {
    try {
      trainer = await openResidentTrainer(trainSession, {
        params: [...method.params].map(([name, t]) => ({
          name,
          grad: gradients[name] as string,
          dims: t.dims,
          data: params.get(name) as Float32Array,
        })),
        optimizer: optimizerSpec(hp, method.noDecay),
        ...(optimizer === undefined ? {} : { restore: { step: optimizer.stepCount, state: optimizer.state() } }),
      });
    } catch (e) {
      await trainSession.release();
      throw e;
    }
    optimizer = undefined;
  }
  // Brings the worker's params (and, for a checkpoint, the optimiser state) back into method.params.
  let residentOptState: Map<string, Float32Array> | undefined;
  const syncFromWorker = async (withOptimizer: boolean): Promise<void> => {
    if (trainer === undefined) return;
    const r = await trainer.read();
    for (const [n, a] of params) a.set(r.params.get(n) as Float32Array);
    optimizerStep = r.optimizerStep;
    residentOptState = withOptimizer ? r.optimizerState : undefined;
  };
  let evalSession: Session | undefined;
  const cb = opts.callbacks ?? {};
  const losses: { step: number; loss: number }[] = [];
  const valLosses: { step: number; loss: number }[] = [];
  let lastCheckpoint: string | undefined;
  let stopReason: StopReason = 'completed';
  const t0 = performance.now();
  const firstStep = step;
  let tokensSeen = 0;
  let logT = t0;
  let logTokens = 0;
  let logLosses: number[] = [];
  let epochFloat = epoch;

  const planFor = (e: number) =>
    planBatches(
      rows.map((r) => r.input_ids.length),
      {
        batchSize: hp.batchSize,
        groupByLength: hp.groupByLength,
        ...(hp.shuffle ? { seed: (hp.seed + e) >>> 0 } : {}),
      },
    );

  const evaluate = async (): Promise<{ loss: number; tokens: number }> => {
    evalSession ??= await createSession((graphs as TrainGraphs).eval, sessionOpts);
    await syncFromWorker(false);
    return validationLoss(evalSession, val, method.params, hp.evalBatchSize, padId);
  };

  const stateAt = (dataEpoch: number, dataBatch: number): TrainerState => ({
    format: 'tunemesh-trainer-state',
    version: 1,
    step,
    totalSteps,
    epoch: epochFloat,
    data: { epoch: dataEpoch, batch: dataBatch },
    optimizer: { name: hp.optimizer, step: optimizer?.stepCount ?? optimizerStep },
    schedule: { name: schedule.name, warmupSteps: schedule.warmupSteps, totalSteps, stepsTaken: step },
    rng: { shuffleSeed: hp.seed, shuffle: hp.shuffle },
    nonFinite: { inARow, total: nonFiniteTotal },
    earlyStopping: { best: Number.isFinite(best) ? best : null, badEvals },
    hyperparameters: opts.hyperparameters,
    fingerprint,
  });

  const stopRequested = () => opts.stopRequest?.aborted === true;
  let synced = false;
  try {
    if (opts.releaseFrozenWeights === true) {
      // Both sessions now hold the weights onnxruntime reads; nothing on this thread reads them again.
      if (val.length > 0) evalSession = await createSession(graphs.eval, sessionOpts);
      graphs = undefined;
      releaseFrozenWeights(model, method);
    }
    outer: while (step < totalSteps) {
      if (stopRequested()) {
        stopReason = 'stopped';
        break;
      }
      const plan = planFor(epoch);
      while (batchInEpoch < plan.length && step < totalSteps) {
        const window = plan.slice(batchInEpoch, batchInEpoch + hp.gradAccum);
        const windowRows = window.map((indices) => indices.map((i) => rows[i] as TrainRow));
        const windowOpts = {
          padId,
          signal: opts.signal,
          step,
          // Steps before this one each took gradAccum micro-batches (a short window only ever ends an epoch
          // run, and the index only needs to be a pure function of the step for resume to repeat it).
          stepFeeds: method.stepFeeds?.bind(method),
          firstMicroStep: step * hp.gradAccum,
          lossScale: scaler?.scale,
        };
        const w =
          trainer === undefined
            ? await windowGradient(trainSession, gradients, method.params, windowRows, windowOpts)
            : await residentWindow(trainer, windowRows, windowOpts);
        tokensSeen += w.inputTokens;
        logTokens += w.inputTokens;
        batchInEpoch += window.length;
        step++;
        const endOfEpoch = batchInEpoch >= plan.length;
        epochFloat = epoch + batchInEpoch / plan.length;
        const loss = w.loss;
        const lr = hp.lr * schedule.factor(step - 1);
        let gradNorm: number;
        if ('grads' in w) {
          const gradList = [...w.grads.values()];
          gradNorm = normOfSums(w.sumsOfSquares);
          if (Number.isFinite(loss) && Number.isFinite(gradNorm)) {
            clipByGlobalNorm(gradList, gradNorm, hp.maxGradNorm);
            (optimizer as Optimizer).step(params, w.grads, lr);
          }
        } else {
          const r = await (trainer as ResidentTrainer).step({
            gradScale: w.gradScale,
            lossFinite: Number.isFinite(loss),
            lr,
            maxGradNorm: hp.maxGradNorm,
          });
          gradNorm = r.gradNorm;
        }
        scaler?.update(Number.isFinite(gradNorm));
        if (!Number.isFinite(loss) || !Number.isFinite(gradNorm)) {
          // Skip: no parameter or optimiser update; the data and the schedule move on.
          inARow++;
          nonFiniteTotal++;
          cb.onNonFinite?.({ step, loss, gradNorm, inARow, total: nonFiniteTotal });
          if (inARow >= hp.maxNonFiniteInARow) {
            throw new TrainError(
              'non_finite',
              `training stopped at step ${step}: ${inARow} steps in a row had a non-finite loss or gradient (last loss ${loss}, gradient norm ${gradNorm}); lower the learning rate or set maxGradNorm`,
            );
          }
        } else {
          inARow = 0;
          losses.push({ step, loss });
          logLosses.push(loss);
        }

        let valLoss: number | undefined;
        const evalNow =
          (typeof hp.evalEvery === 'number' && step % hp.evalEvery === 0) || (hp.evalEvery === 'epoch' && endOfEpoch);
        if (evalNow) {
          const r = await evaluate();
          valLoss = r.loss;
          valLosses.push({ step, loss: r.loss });
          if (r.loss < best - hp.earlyStoppingThreshold) {
            best = r.loss;
            badEvals = 0;
          } else badEvals++;
          if (r.loss < best) best = r.loss;
          cb.onEval?.({ step, epoch: epochFloat, valLoss: r.loss, valTokens: r.tokens, best, badEvals });
          if (hp.earlyStoppingPatience !== undefined && badEvals >= hp.earlyStoppingPatience) {
            stopReason = 'early_stopping';
          }
        }

        const last = step >= totalSteps || stopReason !== 'completed';
        if (step % hp.logEvery === 0 || last) {
          const now = performance.now();
          const elapsedS = (now - t0) / 1000;
          const perStep = elapsedS / Math.max(1, step - firstStep);
          cb.onLog?.({
            step,
            totalSteps,
            epoch: epochFloat,
            loss: logLosses.length > 0 ? logLosses.reduce((a, b) => a + b, 0) / logLosses.length : loss,
            lr,
            gradNorm,
            tokensPerSecond: logTokens / Math.max(1e-9, (now - logT) / 1000),
            elapsedS,
            remainingS: last ? 0 : perStep * (totalSteps - step),
            ...(valLoss === undefined ? {} : { valLoss }),
            peakRssMb: peakRssMb(),
          });
          logT = now;
          logTokens = 0;
          logLosses = [];
        }

        // A stop request counts only between steps, so the step just taken is whole (and saved below).
        if (stopReason === 'completed' && step < totalSteps && stopRequested()) stopReason = 'stopped';
        const saveNow =
          (hp.saveEvery !== undefined && step % hp.saveEvery === 0) ||
          (hp.saveEachEpoch && endOfEpoch) ||
          stopReason === 'stopped';
        if (saveNow && opts.outputDir !== undefined) {
          await syncFromWorker(true);
          const state = endOfEpoch ? stateAt(epoch + 1, 0) : stateAt(epoch, batchInEpoch);
          lastCheckpoint = await saveCheckpoint({
            outputDir: opts.outputDir,
            state,
            method,
            optimizer: optimizer?.state() ?? (residentOptState as Map<string, Float32Array>),
            ...(hp.keepLast === undefined ? {} : { keepLast: hp.keepLast }),
          });
          residentOptState = undefined;
          cb.onCheckpoint?.({ step, dir: lastCheckpoint });
        }
        if (stopReason !== 'completed') break outer;
      }
      if (batchInEpoch >= plan.length) {
        epoch++;
        batchInEpoch = 0;
      }
    }
    // The trained params end where the caller reads them (method.params), as on the main-thread path.
    await syncFromWorker(false);
    synced = true;
  } finally {
    if (trainer !== undefined && !trainSession.closed) {
      // A run that fails part-way leaves method.params at its last step too, as the main-thread path does.
      if (!synced) await syncFromWorker(false).catch(() => undefined);
      await trainer.close();
    }
    await trainSession.release();
    await evalSession?.release();
  }

  const elapsedS = (performance.now() - t0) / 1000;
  const ran = Math.max(1, step - firstStep);
  return {
    steps: step,
    totalSteps,
    epoch: epochFloat,
    stopReason,
    losses,
    valLosses,
    ...(Number.isFinite(best) ? { bestValLoss: best } : {}),
    nonFiniteSteps: nonFiniteTotal,
    ...(lastCheckpoint === undefined ? {} : { lastCheckpoint }),
    stepSeconds: elapsedS / ran,
    tokensPerSecond: tokensSeen / Math.max(1e-9, elapsedS),
    peakRssMb: peakRssMb(),
  };
}
