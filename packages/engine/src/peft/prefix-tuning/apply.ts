// Prefix tuning (PEFT PREFIX_TUNING): trainable keys and values that every layer's attention sees before the
// real tokens' (models/virtual.ts puts them in, extends the mask and shifts positions). PEFT's PrefixEncoder
// gives one row per virtual token of num_layers·2·token_dim values — without prefix_projection an embedding
// [n, L·2·T] (N(0, 1)), with it Embedding [n, T] → Linear(T→E) → Tanh → Linear(E→L·2·T). PEFT's get_prompt
// views a row as [L·2, heads, head_dim]: layer l's keys are entry 2l, its values 2l+1, no RoPE applied. For
// grouped-query attention PEFT sizes token_dim and heads by the key/value heads (T = kvHeads·head_dim).

import type { ModelConfig } from '../../io/config.js';
import type { ModelExtensions } from '../../models/extensions.js';
import type { GraphBuilder } from '../../onnx/builder.js';
import type { TensorData, Value } from '../../onnx/ir.js';
import { add, fusedMatMul, reshape, slice, tanh, transpose } from '../../onnx/ops.js';
import { makeApplied } from '../applied.js';
import { sumNumel } from '../count.js';
import { PeftError } from '../errors.js';
import { initializerGetter } from '../p-tuning/encoder.js';
import type { AppliedMethod, ApplyOptions, BaseModel } from '../types.js';
import {
  checkVirtualTokens,
  evaluate,
  type ModelDims,
  normal,
  PROMPT_EMBEDDINGS,
  savePromptLearning,
  seededRandom,
  takeInit,
  uniform,
} from '../virtual-tokens.js';
import { checkPrefixTuningConfig, type PrefixTuningConfig, prefixTuningFields } from './config.js';

export const PREFIX_PREFIX = 'prefix_encoder.default.';
const pName = (local: string): string => `${PREFIX_PREFIX}${local}`;

/** PEFT's token_dim / num_attention_heads for prefix tuning (key/value heads under grouped-query attention). */
export function prefixDims(cfg: ModelConfig): ModelDims {
  return { tokenDim: cfg.numKvHeads * cfg.headDim, numLayers: cfg.numLayers, numAttentionHeads: cfg.numKvHeads };
}

/** Width of one prompt_embeddings row: num_layers · 2 · token_dim. */
export const prefixWidth = (cfg: ModelConfig): number => cfg.numLayers * 2 * cfg.numKvHeads * cfg.headDim;

function encoderTensors(
  c: PrefixTuningConfig,
  cfg: ModelConfig,
): Map<string, { dims: number[]; fanIn: number | null }> {
  const n = c.numVirtualTokens;
  const T = prefixDims(cfg).tokenDim;
  const W = prefixWidth(cfg);
  if (!c.prefixProjection) return new Map([[pName('embedding.weight'), { dims: [n, W], fanIn: null }]]);
  const E = c.encoderHiddenSize ?? T;
  return new Map([
    [pName('embedding.weight'), { dims: [n, T], fanIn: null }],
    [pName('transform.0.weight'), { dims: [E, T], fanIn: T }],
    [pName('transform.0.bias'), { dims: [E], fanIn: T }],
    [pName('transform.2.weight'), { dims: [W, E], fanIn: E }],
    [pName('transform.2.bias'), { dims: [W], fanIn: E }],
  ]);
}

/** The prefix rows [n, L·2·T] from the encoder's tensors. */
export function buildPrefixRows(b: GraphBuilder, c: PrefixTuningConfig, get: (name: string) => Value): Value {
  const e = get(pName('embedding.weight'));
  if (!c.prefixProjection) return e;
  const lin = (x: Value, i: number) =>
    add(b, fusedMatMul(b, x, get(pName(`transform.${i}.weight`)), { transB: true }), get(pName(`transform.${i}.bias`)));
  return lin(tanh(b, lin(e, 0)), 2);
}

/** Keys/values extension over prefix rows [n, L·2·T] that `rows(b)` builds. */
export function prefixExtension(cfg: ModelConfig, n: number, rows: (b: GraphBuilder) => Value): ModelExtensions {
  const made = new WeakMap<GraphBuilder, Value>();
  const KVH = cfg.numKvHeads;
  const hd = cfg.headDim;
  const L2 = cfg.numLayers * 2;
  const perLayer = (b: GraphBuilder): Value => {
    let v = made.get(b);
    if (v === undefined) {
      const r = reshape(b, rows(b), [n, L2, KVH, hd], [n, L2, KVH, hd]);
      v = transpose(b, r, [1, 2, 0, 3]); // [L·2, KVH, n, hd]
      made.set(b, v);
    }
    return v;
  };
  return {
    virtual: {
      count: n,
      kind: 'keys',
      keys(b, layer) {
        const all = perLayer(b);
        return {
          k: slice(b, all, [2 * layer], [2 * layer + 1], [0]), // [1, KVH, n, hd]
          v: slice(b, all, [2 * layer + 1], [2 * layer + 2], [0]),
        };
      },
    },
  };
}

/** A saved adapter's prompt_embeddings [n, L·2·T] as the extension (evaluation, generation). */
export function savedPrefixExtension(cfg: ModelConfig, t: TensorData, where: string): ModelExtensions {
  const W = prefixWidth(cfg);
  if (t.dims.length !== 2 || t.dims[1] !== W)
    throw new PeftError(
      'adapter-mismatch',
      `${where}: prompt_embeddings is [${t.dims.join(', ')}]; ${cfg.architecture} with ${cfg.numLayers} layers, ${cfg.numKvHeads} key/value heads of ${cfg.headDim} needs [n, ${W}] (num_layers·2·token_dim) — an adapter for another base model?`,
    );
  return prefixExtension(cfg, t.dims[0] as number, (b) => b.initializer(PROMPT_EMBEDDINGS, t));
}

export function applyPrefixTuning(model: BaseModel, config: PrefixTuningConfig, opts: ApplyOptions): AppliedMethod {
  checkPrefixTuningConfig(config, 'prefix tuning config');
  checkVirtualTokens(model, config.numVirtualTokens, 'prefix tuning');
  const cfg = model.config;
  const init = opts.init === undefined ? undefined : new Map(opts.init);
  if (init !== undefined && init.has(PROMPT_EMBEDDINGS)) {
    // PEFT's saved rows are the encoder output: without projection they are the embedding itself
    const rows = init.get(PROMPT_EMBEDDINGS) as TensorData;
    init.delete(PROMPT_EMBEDDINGS);
    if (!config.prefixProjection && !init.has(pName('embedding.weight'))) init.set(pName('embedding.weight'), rows);
    else if (config.prefixProjection && init.size === 0)
      throw new PeftError(
        'adapter-mismatch',
        'prefix tuning: the initial adapter holds only prompt_embeddings (the projection output), not the projection (tunemesh_prompt_encoder.safetensors); continue it with prefix_projection false',
      );
  }
  const random = seededRandom(opts.seed);
  const fresh = new Map(
    [...encoderTensors(config, cfg)].map(([name, t]) => [
      name,
      { dims: t.dims, make: () => (t.fanIn === null ? normal(t.dims, random) : uniform(t.dims, t.fanIn, random)) },
    ]),
  );
  const params = takeInit(fresh, init, 'prefix tuning');
  const ext = prefixExtension(cfg, config.numVirtualTokens, (b) =>
    buildPrefixRows(b, config, initializerGetter(b, params, true)),
  );
  const dims = prefixDims(cfg);
  return makeApplied({
    method: 'prefix-tuning',
    config,
    model,
    params,
    extensions: ext,
    noDecay: new Set(),
    extraTotal: sumNumel(params.values()),
    save: async (dir, trained) => {
      const promptEmbeddings = config.prefixProjection
        ? await evaluate(trained, (b, get) => buildPrefixRows(b, config, get))
        : (trained.get(pName('embedding.weight')) as TensorData);
      await savePromptLearning(dir, {
        peftType: 'PREFIX_TUNING',
        common: config,
        dims,
        fields: prefixTuningFields(config, dims.tokenDim),
        promptEmbeddings,
        encoder: config.prefixProjection ? trained : new Map(),
        baseDir: model.dir,
      });
    },
  });
}
