// What the three prompt-learning methods (prompt tuning, P-tuning, prefix tuning) share: PEFT's common config
// fields, seeded initialisers, the saved form and the checks against the base model.
//
// Saved form (PEFT's): adapter_config.json with peft_type PROMPT_TUNING / P_TUNING / PREFIX_TUNING and
// inference_mode true, and adapter_model.safetensors holding one tensor, `prompt_embeddings` — the encoder's
// OUTPUT (P-tuning: [num_virtual_tokens, token_dim]; prefix tuning: [num_virtual_tokens, num_layers·2·token_dim]),
// which is all PEFT loads in inference mode. So that training can resume, our runs also write the encoder itself
// (P-tuning's MLP/LSTM, prefix tuning's embedding and projection) to tunemesh_prompt_encoder.safetensors under
// the graph names; PEFT ignores the extra file.

import { mkdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { seededRandom } from '../data/batches.js';
import type { ModelConfig } from '../io/config.js';
import { type LoadedPeftAdapter, loadPeftAdapter, savePeftAdapter } from '../io/peft-adapter.js';
import type { PromptLearningAdapterConfig } from '../io/peft-config.js';
import { loadSafetensors } from '../io/safetensors-read.js';
import { writeSafetensors } from '../io/safetensors-write.js';
import { GraphBuilder } from '../onnx/builder.js';
import type { TensorData, Value } from '../onnx/ir.js';
import { runGraph } from '../onnx/runtime.js';
import { cloneF32, sameDims } from './applied.js';
import { PeftError } from './errors.js';
import type { BaseModel } from './types.js';

export const ENCODER_FILE = 'tunemesh_prompt_encoder.safetensors';
export const PROMPT_EMBEDDINGS = 'prompt_embeddings';

/** PEFT's PromptLearningConfig fields every prompt-learning method has. */
export interface PromptLearningCommon {
  readonly numVirtualTokens: number;
  readonly baseModelNameOrPath: string | null;
  readonly taskType: string | null;
}

/** The sizes PEFT's _prepare_prompt_learning_config fills in from the model config. */
export interface ModelDims {
  readonly tokenDim: number;
  readonly numLayers: number;
  readonly numAttentionHeads: number;
}

export function modelDims(cfg: ModelConfig): ModelDims {
  return { tokenDim: cfg.hiddenSize, numLayers: cfg.numLayers, numAttentionHeads: cfg.numHeads };
}

/** Virtual tokens must leave a model with learned positions (GPT-2) room for at least one real token. */
export function checkVirtualTokens(model: BaseModel, n: number, method: string): void {
  const cfg = model.config;
  if (!(Number.isInteger(n) && n >= 1))
    throw new PeftError('bad-config', `${method}: num_virtual_tokens must be an integer >= 1, got ${n}`);
  // GPT-2 cannot embed a position past n_positions; RoPE models can, but were never trained there
  if (n >= cfg.maxPositionEmbeddings)
    throw new PeftError(
      'bad-config',
      `${method}: num_virtual_tokens ${n} overflows ${cfg.architecture}'s ${cfg.maxPositionEmbeddings} positions (${cfg.family === 'gpt2' ? 'n_positions' : 'max_position_embeddings'}); it must be below ${cfg.maxPositionEmbeddings}, minus the longest training sequence`,
    );
}

/** torch's nn.Embedding init, N(0, 1), from a seeded uniform source (Box–Muller). */
export function normal(dims: number[], random: () => number): TensorData {
  const n = dims.reduce((a, d) => a * d, 1);
  const data = new Float32Array(n);
  for (let i = 0; i < n; i += 2) {
    const u = Math.max(random(), 1e-12);
    const v = random();
    const r = Math.sqrt(-2 * Math.log(u));
    data[i] = r * Math.cos(2 * Math.PI * v);
    if (i + 1 < n) data[i + 1] = r * Math.sin(2 * Math.PI * v);
  }
  return { dtype: 'float32', dims, data };
}

/** torch's nn.Linear / nn.LSTM init: U(-1/√fanIn, 1/√fanIn) (kaiming_uniform with a = √5 is the same bound). */
export function uniform(dims: number[], fanIn: number, random: () => number): TensorData {
  const bound = 1 / Math.sqrt(fanIn);
  const data = new Float32Array(dims.reduce((a, d) => a * d, 1));
  for (let i = 0; i < data.length; i++) data[i] = (2 * random() - 1) * bound;
  return { dtype: 'float32', dims, data };
}

export { seededRandom };

/**
 * Fresh tensors or the ones given in `init` (resume, --init-adapter), each checked against its shape; a given
 * tensor the method has no place for is an error naming it.
 */
export function takeInit(
  fresh: ReadonlyMap<string, { dims: number[]; make: () => TensorData }>,
  init: ReadonlyMap<string, TensorData> | undefined,
  method: string,
): Map<string, TensorData> {
  const params = new Map<string, TensorData>();
  const left = new Map(init ?? []);
  for (const [name, f] of fresh) {
    const given = left.get(name);
    if (given === undefined) {
      if (init !== undefined)
        throw new PeftError(
          'adapter-mismatch',
          `${method}: the initial adapter has no '${name}' (has: ${[...init.keys()].join(', ') || 'nothing'})`,
        );
      params.set(name, f.make());
      continue;
    }
    if (!sameDims(given.dims, f.dims))
      throw new PeftError(
        'adapter-mismatch',
        `${method}: initial '${name}' is [${given.dims.join(', ')}]; this model and config need [${f.dims.join(', ')}] (an adapter made for another base model or config?)`,
      );
    left.delete(name);
    params.set(name, cloneF32(given));
  }
  if (left.size > 0)
    throw new PeftError(
      'adapter-mismatch',
      `${method}: initial adapter tensors have no place in this method: ${[...left.keys()].slice(0, 3).join(', ')}`,
    );
  return params;
}

/** Runs a graph fragment over `params` (float32) and returns its value: the encoder output that PEFT saves. */
export async function evaluate(
  params: ReadonlyMap<string, TensorData>,
  build: (b: GraphBuilder, get: (name: string) => Value) => Value,
): Promise<TensorData> {
  const b = new GraphBuilder('prompt-encoder');
  const seen = new Map<string, Value>();
  const get = (name: string): Value => {
    let v = seen.get(name);
    if (v === undefined) {
      const t = params.get(name);
      if (t === undefined) throw new PeftError('adapter-mismatch', `prompt encoder tensor '${name}' missing`);
      v = b.initializer(name, t);
      seen.set(name, v);
    }
    return v;
  };
  b.output(build(b, get), 'out');
  const out = (await runGraph(b.build(), {}, ['out'])).out;
  if (out === undefined) throw new PeftError('non-finite', 'prompt encoder produced no output');
  return out;
}

export interface SavePromptLearning {
  readonly peftType: PromptLearningAdapterConfig['peftType'];
  readonly common: PromptLearningCommon;
  readonly dims: ModelDims;
  /** Method-specific PEFT fields (prompt_tuning_init, encoder_hidden_size, prefix_projection, ...). */
  readonly fields: Record<string, unknown>;
  readonly promptEmbeddings: TensorData;
  /** The encoder's own tensors (none for prompt tuning). */
  readonly encoder: ReadonlyMap<string, TensorData>;
  readonly baseDir: string | undefined;
}

export async function savePromptLearning(dir: string, s: SavePromptLearning): Promise<void> {
  for (const v of s.promptEmbeddings.data as Float32Array)
    if (!Number.isFinite(v))
      throw new PeftError('non-finite', `${s.peftType}: prompt_embeddings hold non-finite values`);
  await mkdir(dir, { recursive: true });
  if (s.encoder.size > 0) await writeSafetensors(join(dir, ENCODER_FILE), s.encoder, { format: 'pt' });
  const config: PromptLearningAdapterConfig = {
    peftType: s.peftType,
    taskType: s.common.taskType ?? 'CAUSAL_LM',
    baseModelNameOrPath: s.common.baseModelNameOrPath ?? s.baseDir ?? null,
    revision: null,
    inferenceMode: true,
    numVirtualTokens: s.common.numVirtualTokens,
    tokenDim: s.dims.tokenDim,
    numTransformerSubmodules: 1,
    numAttentionHeads: s.dims.numAttentionHeads,
    numLayers: s.dims.numLayers,
    extra: s.fields,
  };
  await savePeftAdapter(dir, { config, tensors: new Map([[PROMPT_EMBEDDINGS, s.promptEmbeddings]]) });
}

export interface LoadedPromptLearning {
  readonly adapter: LoadedPeftAdapter;
  readonly config: PromptLearningAdapterConfig;
  /** `prompt_embeddings` and, when our run wrote them, the encoder's tensors. */
  readonly tensors: Map<string, TensorData>;
  readonly hasEncoder: boolean;
}

/** Reads a prompt-learning adapter directory; `expect` refuses another method's adapter with a clear error. */
export async function loadPromptLearning(
  dir: string,
  expect?: PromptLearningAdapterConfig['peftType'],
): Promise<LoadedPromptLearning> {
  const adapter = await loadPeftAdapter(dir, { dtype: 'float32' });
  const c = adapter.config;
  if (c.peftType !== 'PROMPT_TUNING' && c.peftType !== 'P_TUNING' && c.peftType !== 'PREFIX_TUNING')
    throw new PeftError(
      'adapter-mismatch',
      `${dir}: a ${c.peftType} adapter, not a prompt-learning one${expect === undefined ? '' : ` (${expect} expected)`}`,
    );
  if (expect !== undefined && c.peftType !== expect)
    throw new PeftError(
      'adapter-mismatch',
      `${dir}: adapter_config.json says peft_type ${c.peftType}; it cannot be loaded as ${expect} (use the method that made it)`,
    );
  const tensors = new Map(adapter.tensors);
  const file = join(dir, ENCODER_FILE);
  const hasEncoder = (await stat(file).catch(() => undefined))?.isFile() ?? false;
  if (hasEncoder) for (const [k, t] of await loadSafetensors(file, { dtype: 'float32' })) tensors.set(k, t);
  return { adapter, config: c, tensors, hasEncoder };
}

/** A saved adapter's sizes against the model's: an adapter made for another base is refused, naming the field. */
export function checkAgainstModel(config: PromptLearningAdapterConfig, model: ModelConfig, where: string): void {
  const kv = config.peftType === 'PREFIX_TUNING';
  const want: [string, number | null, number][] = [
    ['num_layers', config.numLayers, model.numLayers],
    // PEFT sizes prefix tuning's token_dim by the key/value heads (grouped-query attention)
    ['token_dim', config.tokenDim, kv ? model.numKvHeads * model.headDim : model.hiddenSize],
  ];
  for (const [field, got, need] of want)
    if (got !== null && got !== need && !(kv && field === 'token_dim' && got === model.hiddenSize))
      throw new PeftError(
        'adapter-mismatch',
        `${where}: ${field} is ${got}, but the base model (${model.architecture}) has ${need}; the adapter was made for another base model`,
      );
}
