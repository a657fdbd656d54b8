// The KV cache that generation starts from when a model has virtual positions (prompt learning): the keys and
// values of the `count` virtual positions for every layer, batch 1, as the decode graph's past_key_values.
// PEFT generates the same way: prefix tuning hands its prefixes to the model as past_key_values, and prompt
// tuning's virtual tokens enter the cache during the first forward pass. Because virtual positions come first
// and attend only to each other, their keys and values do not depend on the prompt: computed once, reused for
// every prompt, and the decode graph itself stays the base model's.
//
//   'keys'       — the prefixes themselves.
//   'embeddings' — the virtual embeddings run through the decoder at positions 0..count-1 (no real tokens);
//                  each layer's keys (after RoPE) and values are the cache.

import { GraphBuilder } from '../onnx/builder.js';
import type { Graph, TensorData, Value } from '../onnx/ir.js';
import { unsqueeze } from '../onnx/ops.js';
import { CAUSAL_LM_NAMES } from './causal-lm.js';
import type { ModelConfig } from './config.js';
import type { ModelParts } from './context.js';
import type { DecoderInputs } from './decoder.js';
import { ModelError } from './errors.js';
import type { ModelExtensions } from './extensions.js';
import { gpt2Forward } from './gpt2.js';
import { llamaForward } from './llama.js';
import { pruneGraph } from './prune.js';
import { checkVirtual } from './virtual.js';
import { Weights } from './weights.js';

/** A graph without inputs whose outputs are present.{i}.key / present.{i}.value, each [1, kvHeads, count, headDim]. */
export function buildVirtualCache(
  config: ModelConfig,
  weights: ReadonlyMap<string, TensorData>,
  ext: ModelExtensions,
  opts: { opset?: number } = {},
): Graph {
  const v = ext.virtual;
  if (v === undefined)
    throw new ModelError('bad_option', 'buildVirtualCache: the extensions have no virtual positions');
  checkVirtual(config, v);
  const b = new GraphBuilder(
    `${config.architecture}.virtual-cache`,
    opts.opset === undefined ? {} : { opset: opts.opset },
  );
  const n = v.count;
  if (v.kind === 'keys') {
    const keys = v.keys as NonNullable<typeof v.keys>;
    for (let i = 0; i < config.numLayers; i++) {
      const { k, v: val } = keys(b, i);
      b.output(k, CAUSAL_LM_NAMES.presentKey(i));
      b.output(val, CAUSAL_LM_NAMES.presentValue(i));
    }
    return pruneGraph(b.build());
  }
  const embeddings = v.embeddings as NonNullable<typeof v.embeddings>;
  const w = new Weights(b, weights, undefined);
  const presents: { k: Value; v: Value }[] = [];
  const { virtual: _v, embed: _e, ...rest } = ext;
  const inner: ModelExtensions = {
    ...rest,
    // no real tokens: the embeddings are the virtual ones alone, [1, n, D]
    embed: (bb) => unsqueeze(bb, embeddings(bb), [0]),
    attentionKV: (bb, layer, k, val) => {
      const kv = rest.attentionKV === undefined ? { k, v: val } : rest.attentionKV(bb, layer, k, val);
      presents[layer] = { k, v: val };
      return kv;
    },
  };
  const inputs: DecoderInputs = {
    inputIds: b.constant({ dtype: 'int64', dims: [1, 0], data: new BigInt64Array(0) }, 'no_ids'),
    attentionMask: b.constant({ dtype: 'int64', dims: [1, n], data: new BigInt64Array(n).fill(1n) }, 'virtual_mask'),
    positionIds: null,
    cache: null,
  };
  const parts: ModelParts = { b, cfg: config, w, ext: inner };
  if (config.family === 'gpt2') gpt2Forward(parts, inputs);
  else llamaForward(parts, inputs);
  presents.forEach(({ k, v: val }, i) => {
    b.output(k, CAUSAL_LM_NAMES.presentKey(i));
    b.output(val, CAUSAL_LM_NAMES.presentValue(i));
  });
  inner.finish?.();
  return pruneGraph(b.build());
}
