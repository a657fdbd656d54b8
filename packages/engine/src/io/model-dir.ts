import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { TensorData } from '../onnx/ir.js';
import { loadModelConfig, type ModelConfig } from './config.js';
import type { LoadDType } from './convert.js';
import { ModelDirError } from './errors.js';
import { loadShardedSafetensors, readSafetensorsIndex } from './safetensors-index.js';
import { type LoadOptions, loadSafetensors } from './safetensors-read.js';
import { checkWeights, embeddingName } from './weights.js';

export interface LoadModelDirOptions {
  /** Dtype of floating-point weights in memory; bf16/f16 checkpoints convert tensor by tensor. Default 'float32'. */
  readonly dtype?: LoadDType;
  /** Check names and shapes against the config (default true). */
  readonly check?: boolean;
  readonly onTensor?: LoadOptions['onTensor'];
}

export interface ModelDir {
  readonly dir: string;
  readonly config: ModelConfig;
  /** Weights under transformers' names; with tied embeddings there is no lm_head.weight. */
  readonly weights: Map<string, TensorData>;
  /** Name of the tensor the LM head uses (lm_head.weight or the embedding matrix when tied). */
  readonly lmHead: string;
  /** Files the weights came from: model.safetensors, or the index followed by its shards. */
  readonly files: readonly string[];
}

async function isFile(path: string): Promise<boolean> {
  return (await stat(path).catch(() => undefined))?.isFile() ?? false;
}

/** Load a Hugging Face model folder: config.json plus model.safetensors or model.safetensors.index.json and shards. */
export async function loadModelDir(dir: string, opts: LoadModelDirOptions = {}): Promise<ModelDir> {
  if (!(await stat(dir).catch(() => undefined))?.isDirectory())
    throw new ModelDirError('not-found', `${dir}: model directory does not exist`);
  const configFile = join(dir, 'config.json');
  if (!(await isFile(configFile))) throw new ModelDirError('missing-config', `${dir}: no config.json`);
  const config = await loadModelConfig(configFile);

  const single = join(dir, 'model.safetensors');
  const index = join(dir, 'model.safetensors.index.json');
  const loadOpts: LoadOptions = {
    dtype: opts.dtype ?? 'float32',
    ...(opts.onTensor ? { onTensor: opts.onTensor } : {}),
  };
  let weights: Map<string, TensorData>;
  let files: string[];
  if (await isFile(single)) {
    weights = await loadSafetensors(single, loadOpts);
    files = [single];
  } else if (await isFile(index)) {
    files = [index, ...(await readSafetensorsIndex(index)).shards];
    weights = await loadShardedSafetensors(index, loadOpts);
  } else {
    const hint = (await isFile(join(dir, 'pytorch_model.bin')))
      ? ' (pytorch_model.bin is not supported: convert it to safetensors)'
      : '';
    throw new ModelDirError(
      'missing-weights-file',
      `${dir}: no model.safetensors or model.safetensors.index.json${hint}`,
    );
  }
  if (opts.check === false)
    return { dir, config, weights, files, lmHead: config.tieWordEmbeddings ? embeddingName(config) : 'lm_head.weight' };
  const checked = checkWeights(config, weights, files[0]);
  return { dir, config, weights: checked.weights, lmHead: checked.lmHead, files };
}
