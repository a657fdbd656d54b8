// What `tunemesh train` does once its flags are checked: load the model and data, set up the method, run the
// engine's trainer, and report — progress bar (stderr, TTY only), JSON lines (--json), the final adapter and
// loss.svg in --out.

import { mkdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import {
  DEFAULT_INT4_BLOCK_SIZE,
  dequantizedWeights,
  formatParamCount,
  getMethod,
  isBitfitDir,
  isBottleneckDir,
  type LossHistory,
  latestCheckpoint,
  listMethods,
  loadBitfit,
  loadBottleneck,
  loadModelDir,
  loadPeftAdapter,
  loadPromptLearning,
  type PromptTuningConfig,
  quantizeModel,
  readLossHistory,
  resolvePromptTuningInit,
  type TensorData,
  type TrainModel,
  type TrainResult,
  train,
  writeLossChartFile,
  writeLossHistorySync,
} from '@tunemesh/engine';
import { UsageError } from '../errors.js';
import { optionalTokenizer } from './common.js';
import { ProgressBar } from './progress.js';
import type { TrainFlags } from './train.js';
import { loadTrainData } from './train-data.js';
import { methodConfigFromFlags, methodFlagsGiven } from './train-options.js';

export interface TrainIo {
  print: (s: string) => void;
  printErr: (s: string) => void;
  /** stderr is a terminal: draw the progress bar. */
  tty: boolean;
}

/** The method, its config and the starting tensors, from --init-adapter or from the flags. */
export interface MethodChoice {
  method: string;
  config: unknown;
  init?: Map<string, TensorData>;
}

/**
 * --init-adapter: the method and its settings come from the adapter's own config (adapter_config.json for
 * PEFT methods, tunemesh_config.json for BitFit), the tensors become the starting values. Flags that would
 * contradict it are refused rather than silently ignored.
 */
export async function chooseMethod(o: TrainFlags): Promise<MethodChoice> {
  if (o.initAdapter === undefined) {
    const method = o.method ?? 'lora';
    const config = methodConfigFromFlags(o, method);
    // prompt tuning's TEXT init needs the tokenizer: the text's ids are resolved here, once
    if (method === 'prompt-tuning')
      return { method, config: await resolvePromptTuningInit(config as PromptTuningConfig, o.model) };
    return { method, config };
  }
  const dir = o.initAdapter;
  if (!(await stat(dir).catch(() => undefined))?.isDirectory())
    throw new UsageError(`--init-adapter ${dir}: not a directory`);
  const flagsGiven = methodFlagsGiven(o);
  let chosen: MethodChoice;
  if (await isBitfitDir(dir)) {
    const b = await loadBitfit(dir);
    chosen = { method: 'bitfit', config: b.config, init: b.tensors };
  } else if (await isBottleneckDir(dir)) {
    const a = await loadBottleneck(dir);
    chosen = { method: 'adapter', config: a.config, init: a.tensors };
  } else {
    const a = await loadPeftAdapter(dir);
    const method = listMethods().find((m) => getMethod(m).peftType === a.config.peftType);
    if (method === undefined)
      throw new UsageError(`--init-adapter ${dir}: peft_type ${a.config.peftType} cannot be trained here`);
    if (getMethod(method).peftType === a.config.peftType && a.config.peftType.endsWith('_TUNING')) {
      // prompt learning: the method's own config from the file's fields, and the encoder file when there is one
      const p = await loadPromptLearning(dir, a.config.peftType as 'P_TUNING');
      const config = getMethod(method).parseConfig(a.config.extra ?? {}, join(dir, 'adapter_config.json'));
      chosen = { method, config, init: p.tensors };
    } else chosen = { method, config: a.config, init: a.tensors };
  }
  if (o.method !== undefined && o.method !== chosen.method)
    throw new UsageError(`--method ${o.method} contradicts --init-adapter ${dir}, which is a ${chosen.method} adapter`);
  if (flagsGiven.length > 0)
    throw new UsageError(`--init-adapter takes the method settings from ${dir}; drop ${flagsGiven.join('/')}`);
  return chosen;
}

/** A JSON-safe number: non-finite values become null (JSON has no NaN). */
export const num = (v: number | undefined): number | null => (v === undefined || !Number.isFinite(v) ? null : v);

/** The newest checkpoint-<step> directory in `out`, for --resume. */
async function latestCheckpointIn(out: string): Promise<string> {
  const dir = await latestCheckpoint(out);
  if (dir === undefined) throw new UsageError(`--resume: no checkpoint-<step> directory in ${out}`);
  return dir;
}

export async function runTrainCommand(o: TrainFlags, io: TrainIo): Promise<void> {
  const base = await loadModelDir(o.model);
  const tokenizer = await optionalTokenizer(o.model);
  const choice = await chooseMethod(o);
  const resumeFrom = o.resume === true ? await latestCheckpointIn(o.out) : undefined;
  const data = await loadTrainData(o, tokenizer, base.config.vocabSize);
  // Human-readable lines go to stdout, or to stderr with --json so stdout stays one JSON object per line.
  const info = o.json ? io.printErr : io.print;
  const d = data.train;
  info(
    `data: ${d.rows.length} training rows (${d.labelTokens} loss tokens), ${d.truncated} truncated to ${o.maxSeqLen} tokens, ${d.dropped} dropped without loss tokens\n`,
  );
  if (data.val !== undefined)
    info(`validation: ${data.val.rows.length} rows, ${data.val.truncated} truncated, ${data.val.dropped} dropped\n`);
  let model: TrainModel = { config: base.config, weights: base.weights };
  if (o.quantize !== undefined) {
    const q = quantizeModel(base.config, base.weights, {
      mode: o.quantize,
      ...(o.quantBlockSize === undefined ? {} : { blockSize: o.quantBlockSize }),
    });
    model = { config: base.config, weights: q.weights, quantized: q.quantized };
    for (const n of q.quantized.keys()) base.weights.delete(n); // the loaded float copies: not kept
    const mib = (n: number) => (n / 2 ** 20).toFixed(1);
    const how =
      o.quantize === 'int4' ? `int4, block ${o.quantBlockSize ?? DEFAULT_INT4_BLOCK_SIZE}` : 'int8 per channel';
    info(
      `base: ${q.quantized.size} linear weights quantized (${how}): ${mib(q.floatBytes)} → ${mib(q.quantBytes)} MiB\n`,
    );
  }
  const method = getMethod(choice.method);
  // On a quantized base the method is applied to the weights the quantized model computes with.
  const applyWeights = model.quantized === undefined ? base.weights : dequantizedWeights(model as Required<TrainModel>);
  const applied = method.apply({ config: base.config, weights: applyWeights, dir: o.model }, choice.config, {
    seed: o.seed,
    ...(choice.init !== undefined && { init: choice.init }),
  });
  const counts = applied.countParams();
  info(`${formatParamCount(counts)}\n`);
  // The dequantized copies were only for apply(): drop them (training reads the quantized weights).
  for (const n of model.quantized?.keys() ?? []) if (applyWeights !== base.weights) applyWeights.delete(n);
  await mkdir(o.out, { recursive: true });

  const bar = io.tty && !o.json ? new ProgressBar(io.printErr) : undefined;
  const history: LossHistory = resumeFrom === undefined ? { train: [], val: [] } : await readLossHistory(resumeFrom);
  const hasVal = data.val !== undefined;
  let result: TrainResult;
  try {
    result = await train({
      model,
      method: applied,
      train: d.rows,
      ...(data.val !== undefined && { validation: data.val.rows }),
      hyperparameters: {
        ...(o.maxSteps !== undefined ? { maxSteps: o.maxSteps } : { epochs: o.epochs ?? 1 }),
        lr: o.lr,
        batchSize: o.batchSize,
        gradAccum: o.gradAccum,
        optimizer: o.optimizer,
        scheduler: o.scheduler,
        ...(o.warmupSteps !== undefined && { warmupSteps: o.warmupSteps }),
        ...(o.warmupRatio !== undefined && { warmupRatio: o.warmupRatio }),
        weightDecay: o.weightDecay,
        maxGradNorm: o.maxGradNorm,
        seed: o.seed,
        shuffle: o.shuffle,
        // Dynamic padding pads each batch to its longest row; grouping by length keeps that padding small.
        groupByLength: true,
        ...(hasVal && { evalEvery: o.evalEvery ?? 'epoch' }),
        logEvery: o.logEvery,
        ...(o.saveEvery !== undefined ? { saveEvery: o.saveEvery } : { saveEachEpoch: true }),
        keepLast: KEEP_CHECKPOINTS,
      },
      outputDir: o.out,
      ...(resumeFrom !== undefined && { resumeFrom }),
      padId: tokenizer?.padTokenId ?? base.config.padTokenId ?? 0,
      ...(o.threads !== undefined && { threads: o.threads }),
      ...(o.gradientCheckpointing === true && { gradientCheckpointing: true }),
      ...(o.recomputeAttention === false && { recomputeAttention: false }),
      // Nothing here reads the base weights after train() has built its sessions: every method's save writes
      // only its params (full fine-tuning's params are the loaded arrays themselves, so they stay), no merge.
      releaseFrozenWeights: true,
      callbacks: {
        onLog(e) {
          if (Number.isFinite(e.loss)) history.train.push({ step: e.step, loss: e.loss });
          if (o.json) {
            io.print(
              `${JSON.stringify({
                step: e.step,
                epoch: num(e.epoch),
                loss: num(e.loss),
                lr: num(e.lr),
                grad_norm: num(e.gradNorm),
                tokens_per_s: num(e.tokensPerSecond),
                ...(e.valLoss !== undefined && { val_loss: num(e.valLoss) }),
              })}\n`,
            );
          } else if (bar !== undefined) {
            bar.update({ step: e.step, totalSteps: e.totalSteps, loss: e.loss, etaSeconds: e.remainingS });
          } else {
            const val = e.valLoss === undefined ? '' : `  val_loss ${e.valLoss.toFixed(4)}`;
            io.print(
              `step ${e.step}/${e.totalSteps}  epoch ${e.epoch.toFixed(2)}  loss ${e.loss.toFixed(4)}  lr ${e.lr.toExponential(3)}  grad_norm ${e.gradNorm.toFixed(3)}  ${Math.round(e.tokensPerSecond)} tokens/s${val}\n`,
            );
          }
        },
        onEval(e) {
          history.val.push({ step: e.step, loss: e.valLoss });
        },
        onCheckpoint(e) {
          writeLossHistorySync(e.dir, history);
        },
        onNonFinite(e) {
          bar?.finish();
          io.printErr(`tunemesh: step ${e.step} skipped: non-finite loss or gradient (${e.inARow} in a row)\n`);
        },
      },
    });
  } finally {
    bar?.finish();
  }
  await applied.save(o.out, applied.params);
  const chart = join(o.out, 'loss.svg');
  await writeLossChartFile(chart, history, `${applied.method} · ${o.data.split('/').pop() ?? o.data}`);
  const lastLoss = result.losses.at(-1)?.loss;
  const summary = {
    done: true,
    adapter: o.out,
    method: applied.method,
    steps: result.steps,
    epoch: num(result.epoch),
    train_loss: num(lastLoss),
    ...(result.valLosses.length > 0 && { val_loss: num(result.valLosses.at(-1)?.loss) }),
    ...(result.bestValLoss !== undefined && { best_val_loss: num(result.bestValLoss) }),
    stop_reason: result.stopReason,
    trainable_params: counts.trainable,
    total_params: counts.total,
    trainable_percent: counts.percent,
    truncated: d.truncated,
    dropped: d.dropped,
    non_finite_steps: result.nonFiniteSteps,
    tokens_per_s: num(result.tokensPerSecond),
    step_s: num(result.stepSeconds),
    peak_rss_mb: num(result.peakRssMb),
    chart,
  };
  if (o.json) io.print(`${JSON.stringify(summary)}\n`);
  else
    io.print(
      `done: ${result.steps} steps (${result.stopReason}), final loss ${lastLoss?.toFixed(4) ?? 'n/a'}${summary.val_loss === undefined ? '' : `, validation loss ${summary.val_loss?.toFixed(4)}`}; ${applied.method === 'full' ? 'model' : 'adapter'} in ${o.out}, loss curve in ${chart}\n`,
    );
}

/** Checkpoints kept in --out (older ones are deleted as new ones are written). */
const KEEP_CHECKPOINTS = 2;
