// BitFit's saved directory and loading it back onto a base model for evaluation and generation.

import { mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { loadModelDir } from '../../io/model-dir.js';
import { loadSafetensors } from '../../io/safetensors-read.js';
import { writeSafetensors } from '../../io/safetensors-write.js';
import { buildCausalLM } from '../../models/causal-lm.js';
import type { LoadedCausalLM } from '../../models/load.js';
import type { TensorData } from '../../onnx/ir.js';
import { sameDims } from '../applied.js';
import { PeftError } from '../errors.js';
import {
  BITFIT_CONFIG_FILE,
  BITFIT_WEIGHTS_FILE,
  type BitfitConfig,
  bitfitConfigToJson,
  parseBitfitConfig,
} from './config.js';

export async function saveBitfit(
  dir: string,
  config: BitfitConfig,
  params: ReadonlyMap<string, TensorData>,
): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeSafetensors(join(dir, BITFIT_WEIGHTS_FILE), params, { format: 'pt' });
  const tmp = join(dir, `${BITFIT_CONFIG_FILE}.tmp-${process.pid}`);
  await writeFile(tmp, `${JSON.stringify(bitfitConfigToJson(config, [...params.keys()]), null, 2)}\n`);
  await rename(tmp, join(dir, BITFIT_CONFIG_FILE));
}

export interface LoadedBitfit {
  readonly config: BitfitConfig;
  /** Trained biases under their checkpoint names. */
  readonly tensors: Map<string, TensorData>;
}

/** Whether `dir` holds a BitFit result (tunemesh_config.json with method "bitfit"). */
export async function isBitfitDir(dir: string): Promise<boolean> {
  const file = join(dir, BITFIT_CONFIG_FILE);
  if (!(await stat(file).catch(() => undefined))?.isFile()) return false;
  try {
    return (JSON.parse(await readFile(file, 'utf8')) as { method?: unknown }).method === 'bitfit';
  } catch {
    return false;
  }
}

export async function loadBitfit(dir: string): Promise<LoadedBitfit> {
  const file = join(dir, BITFIT_CONFIG_FILE);
  let json: unknown;
  try {
    json = JSON.parse(await readFile(file, 'utf8'));
  } catch (cause) {
    throw new PeftError('bad-config', `${file}: cannot read a BitFit config (${(cause as Error).message})`, { cause });
  }
  const config = parseBitfitConfig(json, file);
  const tensors = await loadSafetensors(join(dir, BITFIT_WEIGHTS_FILE), { dtype: 'float32' });
  return { config, tensors };
}

/** Base weights with the trained biases put in; every bias must exist in the base with the same shape. */
export function withBitfit(
  weights: ReadonlyMap<string, TensorData>,
  biases: ReadonlyMap<string, TensorData>,
  where: string,
): Map<string, TensorData> {
  const out = new Map(weights);
  for (const [name, t] of biases) {
    const base = weights.get(name);
    if (base === undefined || !name.endsWith('.bias'))
      throw new PeftError('adapter-mismatch', `${where}: '${name}' is not a bias of the base model`);
    if (!sameDims(base.dims, t.dims))
      throw new PeftError(
        'adapter-mismatch',
        `${where}: '${name}' is [${t.dims.join(', ')}], the base model's is [${base.dims.join(', ')}]`,
      );
    out.set(name, t);
  }
  return out;
}

/** A base model with BitFit biases from `bitfitDir`, ready to build evaluation and generation graphs. */
export async function loadBitfitModel(modelDir: string, bitfitDir: string): Promise<LoadedCausalLM> {
  const { config, weights: base } = await loadModelDir(modelDir, { dtype: 'float32' });
  const { tensors } = await loadBitfit(bitfitDir);
  const weights = withBitfit(base, tensors, bitfitDir);
  return {
    dir: modelDir,
    config,
    weights,
    adapter: null,
    extensions: {},
    build(mode, opts = {}) {
      return buildCausalLM(config, weights, { ...opts, mode });
    },
  };
}
