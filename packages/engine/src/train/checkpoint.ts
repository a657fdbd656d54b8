// Checkpoints: <outputDir>/checkpoint-<step>/ holds
//   - the method's own saved form (method.save: for LoRA a PEFT adapter, loadable as it is),
//   - params.safetensors: the params under their graph names, float32 (exact, whatever the method's format),
//   - optimizer.safetensors: the optimiser state tensors,
//   - trainer_state.json: step, data position, schedule, optimiser step count, RNG, counters, hyperparameters
//     and the fingerprint of model, method and data.
// A checkpoint is written into a hidden temporary directory and renamed into place only when complete, so a
// failed save (disk full, a throwing method.save) leaves the previous checkpoints as they were.

import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { readSafetensors } from '../io/safetensors-read.js';
import { writeSafetensors } from '../io/safetensors-write.js';
import type { TensorData } from '../onnx/ir.js';
import { CheckpointMismatchError, TrainError } from './errors.js';
import type { Fingerprint } from './fingerprint.js';
import type { Hyperparameters, OptimizerName, TrainMethod } from './types.js';

export const TRAINER_STATE_FILE = 'trainer_state.json';
export const PARAMS_FILE = 'params.safetensors';
export const OPTIMIZER_FILE = 'optimizer.safetensors';
const FORMAT = 'tunemesh-trainer-state';
const VERSION = 1;
const CHECKPOINT_DIR = /^checkpoint-(\d+)$/;

/** Everything besides tensors that a resumed run needs to continue exactly where the saved one was. */
export interface TrainerState {
  readonly format: typeof FORMAT;
  readonly version: number;
  /** Optimiser steps taken. */
  readonly step: number;
  readonly totalSteps: number;
  /** Fractional epochs done. */
  readonly epoch: number;
  /** Where the next step's data starts: epoch index and batch index within that epoch's plan. */
  readonly data: { readonly epoch: number; readonly batch: number };
  readonly optimizer: { readonly name: OptimizerName; readonly step: number };
  readonly schedule: {
    readonly name: string;
    readonly warmupSteps: number;
    readonly totalSteps: number;
    readonly stepsTaken: number;
  };
  /**
   * The data order of epoch e is planBatches with seed (shuffleSeed + e): the shuffle seed and the data
   * position are the whole random state of the loop (dropout masks, if a method uses them, come from the graph).
   */
  readonly rng: { readonly shuffleSeed: number; readonly shuffle: boolean };
  readonly nonFinite: { readonly inARow: number; readonly total: number };
  readonly earlyStopping: { readonly best: number | null; readonly badEvals: number };
  readonly hyperparameters: Hyperparameters;
  readonly fingerprint: Fingerprint;
}

export interface Checkpoint {
  readonly dir: string;
  readonly state: TrainerState;
  readonly params: Map<string, Float32Array>;
  readonly optimizer: Map<string, Float32Array>;
}

export interface SaveCheckpointInput {
  readonly outputDir: string;
  readonly state: TrainerState;
  readonly method: TrainMethod;
  readonly optimizer: ReadonlyMap<string, Float32Array>;
  /** Keep only the newest K checkpoints of outputDir. */
  readonly keepLast?: number;
}

export const checkpointDirName = (step: number): string => `checkpoint-${step}`;

/** Writes checkpoint-<step> atomically and prunes older ones beyond keepLast. Returns its path. */
export async function saveCheckpoint(input: SaveCheckpointInput): Promise<string> {
  const { outputDir, state, method } = input;
  const final = join(outputDir, checkpointDirName(state.step));
  const tmp = join(outputDir, `.${checkpointDirName(state.step)}.tmp-${process.pid}`);
  try {
    await mkdir(outputDir, { recursive: true });
    await rm(tmp, { recursive: true, force: true });
    await mkdir(tmp);
    await method.save(tmp, method.params);
    const params = new Map<string, TensorData>();
    for (const [n, t] of method.params) params.set(n, { dtype: 'float32', dims: [...t.dims], data: t.data });
    await writeSafetensors(join(tmp, PARAMS_FILE), params, { format: 'pt' });
    const opt = new Map<string, TensorData>();
    for (const [n, a] of input.optimizer) opt.set(n, { dtype: 'float32', dims: [a.length], data: a });
    await writeSafetensors(join(tmp, OPTIMIZER_FILE), opt, { format: 'pt' });
    await writeFile(join(tmp, TRAINER_STATE_FILE), `${JSON.stringify(state, null, 1)}\n`);
    // Re-saving a step that exists (a resumed run passing the same step): move the old one aside first.
    const old = `${tmp}.old`;
    const exists = await isDir(final);
    if (exists) await rename(final, old);
    await rename(tmp, final);
    if (exists) await rm(old, { recursive: true, force: true });
  } catch (e) {
    await rm(tmp, { recursive: true, force: true }).catch(() => undefined);
    const why = e instanceof Error ? e.message : String(e);
    throw new TrainError(
      'checkpoint_write',
      `cannot write checkpoint ${final}: ${why} (earlier checkpoints are untouched)`,
      {
        cause: e,
      },
    );
  }
  if (input.keepLast !== undefined) await pruneCheckpoints(outputDir, input.keepLast);
  return final;
}

/** The checkpoint-<step> directories of outputDir, oldest first. */
export async function listCheckpoints(outputDir: string): Promise<{ step: number; dir: string }[]> {
  const names = await readdir(outputDir).catch(() => [] as string[]);
  return names
    .map((n) => ({ m: CHECKPOINT_DIR.exec(n), n }))
    .filter((x) => x.m !== null)
    .map((x) => ({ step: Number((x.m as RegExpExecArray)[1]), dir: join(outputDir, x.n) }))
    .sort((a, b) => a.step - b.step);
}

/** The newest checkpoint of outputDir, or undefined (for --resume without a path). */
export async function latestCheckpoint(outputDir: string): Promise<string | undefined> {
  return (await listCheckpoints(outputDir)).at(-1)?.dir;
}

async function pruneCheckpoints(outputDir: string, keep: number): Promise<void> {
  const all = await listCheckpoints(outputDir);
  for (const c of all.slice(0, Math.max(0, all.length - keep))) await rm(c.dir, { recursive: true, force: true });
}

async function isDir(p: string): Promise<boolean> {
  return (await stat(p).catch(() => undefined))?.isDirectory() ?? false;
}

/** Reads a checkpoint directory; anything missing or malformed is a TrainError('bad_checkpoint') naming it. */
export async function readCheckpoint(dir: string): Promise<Checkpoint> {
  if (!(await isDir(dir))) throw new TrainError('bad_checkpoint', `resume: ${dir} is not a directory`);
  const stateFile = join(dir, TRAINER_STATE_FILE);
  let text: string;
  try {
    text = await readFile(stateFile, 'utf8');
  } catch {
    throw new TrainError('bad_checkpoint', `resume: ${dir} is not a checkpoint (no ${TRAINER_STATE_FILE})`);
  }
  let state: TrainerState;
  try {
    state = JSON.parse(text) as TrainerState;
  } catch (e) {
    throw new TrainError('bad_checkpoint', `resume: ${stateFile} is not valid JSON`, { cause: e });
  }
  if (state?.format !== FORMAT || state.version !== VERSION || !Number.isSafeInteger(state.step)) {
    throw new TrainError('bad_checkpoint', `resume: ${stateFile} is not a ${FORMAT} v${VERSION} file`);
  }
  const tensors = async (file: string): Promise<Map<string, Float32Array>> => {
    try {
      const { tensors } = await readSafetensors(join(dir, file), { dtype: 'float32' });
      return new Map([...tensors].map(([n, t]) => [n, t.data as Float32Array]));
    } catch (e) {
      throw new TrainError('bad_checkpoint', `resume: cannot read ${join(dir, file)}: ${(e as Error).message}`, {
        cause: e,
      });
    }
  };
  return { dir, state, params: await tensors(PARAMS_FILE), optimizer: await tensors(OPTIMIZER_FILE) };
}

/** Refuses a checkpoint that belongs to another model, method, method config, parameter set or dataset. */
export function checkFingerprint(dir: string, saved: Fingerprint, current: Fingerprint): void {
  const at = `resume from ${dir}`;
  if (saved.model !== current.model) {
    throw new CheckpointMismatchError(
      'model',
      `${at}: the checkpoint was trained on another model: ${saved.modelSummary} (${saved.model.slice(0, 12)}), this run has ${current.modelSummary} (${current.model.slice(0, 12)})`,
    );
  }
  if (saved.method !== current.method) {
    throw new CheckpointMismatchError(
      'method',
      `${at}: the checkpoint is a '${saved.method}' run, this run uses '${current.method}'`,
    );
  }
  if (saved.methodConfig !== current.methodConfig) {
    throw new CheckpointMismatchError(
      'method_config',
      `${at}: the ${current.method} settings differ: checkpoint ${saved.methodConfig}, this run ${current.methodConfig}`,
    );
  }
  const a = new Set(saved.params);
  const missing = current.params.filter((p) => !a.has(p));
  const extra = saved.params.filter((p) => !current.params.includes(p));
  if (missing.length > 0 || extra.length > 0) {
    throw new CheckpointMismatchError(
      'params',
      `${at}: the trainable parameters differ: ${missing.length > 0 ? `not in the checkpoint: ${missing.slice(0, 3).join(', ')}` : ''}${missing.length > 0 && extra.length > 0 ? '; ' : ''}${extra.length > 0 ? `only in the checkpoint: ${extra.slice(0, 3).join(', ')}` : ''}`,
    );
  }
  if (saved.data !== current.data) {
    throw new CheckpointMismatchError(
      'data',
      `${at}: the training data differs (checkpoint: ${saved.dataRows} rows, ${saved.data.slice(0, 12)}; this run: ${current.dataRows} rows, ${current.data.slice(0, 12)})`,
    );
  }
}
