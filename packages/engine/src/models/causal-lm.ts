// buildCausalLM: one graph per mode over any supported architecture, with the input/output names the rest of
// the engine (infer/, train/) and the Hugging Face ONNX exports use.
//
//   logits: input_ids, attention_mask [, position_ids]            → logits [batch, seq, vocab]
//   loss:   input_ids, attention_mask [, position_ids], labels    → loss, loss_sum, loss_tokens
//   decode: input_ids, attention_mask [batch, past+seq], position_ids,
//           past_key_values.{i}.key/.value [batch, kvHeads, past, headDim]
//                                                                 → logits, present.{i}.key/.value [batch, kvHeads, past+seq, headDim]

import { GraphBuilder } from '../onnx/builder.js';
import { dimSum } from '../onnx/dims.js';
import type { Graph, TensorData, Value } from '../onnx/ir.js';
import { concat, const1d, reshape } from '../onnx/ops.js';
import type { QuantizedWeight } from '../quant/types.js';
import type { ModelConfig } from './config.js';
import type { ModelParts } from './context.js';
import type { DecoderInputs, DecoderOutput, KVCache } from './decoder.js';
import { ModelError } from './errors.js';
import type { ModelExtensions } from './extensions.js';
import { gpt2Forward } from './gpt2.js';
import { llamaForward } from './llama.js';
import { causalLMLoss } from './loss.js';
import { pruneGraph } from './prune.js';
import { dropVirtualRows, withVirtual } from './virtual.js';
import { type TrainableSpec, Weights } from './weights.js';

export type CausalLMMode = 'logits' | 'loss' | 'decode';

export interface BuildCausalLMOptions {
  readonly mode: CausalLMMode;
  /** PEFT methods and other hooks at the named extension points. */
  readonly extensions?: ModelExtensions;
  /** Checkpoint tensors to mark trainable (full fine-tuning, BitFit); adapters mark their own. */
  readonly trainable?: TrainableSpec;
  /** Linear weights held quantized (quant/quantizeModel); they are absent from `weights`. */
  readonly quantized?: ReadonlyMap<string, QuantizedWeight>;
  /**
   * Whether position_ids is a graph input (default true). Without it the positions are transformers' default,
   * the cache positions past .. past+seq-1 — right for right-padded or unpadded batches, not for left padding.
   */
  readonly positionIds?: boolean;
  readonly opset?: number;
  /** Graph name (default: the architecture and mode). */
  readonly name?: string;
}

/** Graph input and output names, as the Hugging Face ONNX exports spell them. */
export const CAUSAL_LM_NAMES = {
  inputIds: 'input_ids',
  attentionMask: 'attention_mask',
  positionIds: 'position_ids',
  labels: 'labels',
  logits: 'logits',
  loss: 'loss',
  lossSum: 'loss_sum',
  lossTokens: 'loss_tokens',
  pastKey: (layer: number) => `past_key_values.${layer}.key`,
  pastValue: (layer: number) => `past_key_values.${layer}.value`,
  presentKey: (layer: number) => `present.${layer}.key`,
  presentValue: (layer: number) => `present.${layer}.value`,
} as const;

const N = CAUSAL_LM_NAMES;

// Buffers some checkpoints carry that transformers ignores on load.
const IGNORED_BUFFERS = [/\.rotary_emb\.inv_freq$/, /\.attn\.(masked_)?bias$/];

export function buildCausalLM(
  config: ModelConfig,
  weights: ReadonlyMap<string, TensorData>,
  opts: BuildCausalLMOptions,
): Graph {
  const mode = opts.mode;
  if (mode !== 'logits' && mode !== 'loss' && mode !== 'decode') {
    throw new ModelError('bad_option', `unknown mode '${String(mode)}' (expected logits, loss or decode)`);
  }
  const b = new GraphBuilder(
    opts.name ?? `${config.architecture}.${mode}`,
    opts.opset === undefined ? {} : { opset: opts.opset },
  );
  const w = new Weights(b, weights, opts.trainable, opts.quantized);
  const ext = opts.extensions ?? {};

  const decode = mode === 'decode';
  const seq = 'seq';
  const total = decode ? dimSum(['past', seq]) : seq;
  const inputIds = b.input(N.inputIds, 'int64', ['batch', seq]);
  const attentionMask = b.input(N.attentionMask, 'int64', ['batch', total]);
  const positionIds = (opts.positionIds ?? true) ? b.input(N.positionIds, 'int64', ['batch', seq]) : null;
  let labels = mode === 'loss' ? b.input(N.labels, 'int64', ['batch', seq]) : null;

  const presents: { k: Value; v: Value }[] = [];
  let cache: KVCache | null = null;
  if (decode) {
    const kvShape = ['batch', config.numKvHeads, 'past', config.headDim];
    const past = Array.from({ length: config.numLayers }, (_, i) => ({
      k: b.input(N.pastKey(i), 'float32', kvShape),
      v: b.input(N.pastValue(i), 'float32', kvShape),
    }));
    cache = {
      pastDim: 'past',
      past: (i) => past[i] as { k: Value; v: Value },
      present: (i, k, v) => {
        presents[i] = { k, v };
      },
    };
  }

  let inputs: DecoderInputs = { inputIds, positionIds, attentionMask, cache };
  let parts: ModelParts = { b, cfg: config, w, ext };
  let dropRows = 0;
  // Virtual tokens / prefixes (prompt learning) extend the sequence inside the graph; a decode graph leaves them
  // out because generation starts from a KV cache that already holds them (models/virtual-cache.ts).
  if (ext.virtual !== undefined && !decode) {
    const v = withVirtual(b, config, ext.virtual, ext, inputs, labels);
    inputs = { ...v.inputs, ...(v.prefixKeys > 0 && { prefixKeys: v.prefixKeys }) };
    labels = v.labels;
    parts = { b, cfg: config, w, ext: v.ext };
    dropRows = v.dropRows;
  } else if (ext.virtual !== undefined) {
    const { virtual: _v, ...rest } = ext;
    parts = { b, cfg: config, w, ext: rest };
  }
  const out: DecoderOutput = config.family === 'gpt2' ? gpt2Forward(parts, inputs) : llamaForward(parts, inputs);
  const { ctx, logits } = out;

  if (labels !== null) {
    const loss = causalLMLoss(b, logits, labels, ctx.dims.N);
    b.output(loss.loss, N.loss);
    b.output(loss.lossSum, N.lossSum);
    b.output(loss.tokens, N.lossTokens);
  } else {
    const V = config.vocabSize;
    const shape3 = concat(b, [ctx.bt, const1d(b, [V])], 0);
    const logits3 = reshape(b, logits, shape3, [ctx.dims.B, ctx.dims.T, V]); // [B, T, V]
    b.output(dropVirtualRows(b, logits3, dropRows), N.logits);
    presents.forEach(({ k, v }, i) => {
      b.output(k, N.presentKey(i));
      b.output(v, N.presentValue(i));
    });
  }

  const tiedHead = config.tieWordEmbeddings ? ['lm_head.weight'] : [];
  parts.ext.finish?.();
  w.checkAllUsed((n) => tiedHead.includes(n) || IGNORED_BUFFERS.some((re) => re.test(n)));
  return pruneGraph(b.build());
}
