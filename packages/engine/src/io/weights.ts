import type { TensorData } from '../onnx/ir.js';
import type { Gpt2Config, LlamaFamilyConfig, ModelConfig } from './config.js';
import { ModelDirError } from './errors.js';

/** One tensor a checkpoint must (or may) hold for a config, with the shape transformers gives it. */
export interface WeightSpec {
  readonly name: string;
  readonly shape: readonly number[];
  /** Absent is fine (lm_head.weight with tied embeddings). */
  readonly optional?: boolean;
  /** GPT-2 Conv1D: stored [in, out], the transpose of nn.Linear's [out, in]. */
  readonly conv1d?: boolean;
}

function llamaWeights(c: LlamaFamilyConfig): WeightSpec[] {
  const H = c.hiddenSize;
  const q = c.numHeads * c.headDim;
  const kv = c.numKvHeads * c.headDim;
  const I = c.intermediateSize;
  const out: WeightSpec[] = [{ name: 'model.embed_tokens.weight', shape: [c.vocabSize, H] }];
  for (let i = 0; i < c.numLayers; i++) {
    const p = `model.layers.${i}`;
    out.push(
      { name: `${p}.input_layernorm.weight`, shape: [H] },
      { name: `${p}.self_attn.q_proj.weight`, shape: [q, H] },
      { name: `${p}.self_attn.k_proj.weight`, shape: [kv, H] },
      { name: `${p}.self_attn.v_proj.weight`, shape: [kv, H] },
      { name: `${p}.self_attn.o_proj.weight`, shape: [H, q] },
      { name: `${p}.post_attention_layernorm.weight`, shape: [H] },
      { name: `${p}.mlp.gate_proj.weight`, shape: [I, H] },
      { name: `${p}.mlp.up_proj.weight`, shape: [I, H] },
      { name: `${p}.mlp.down_proj.weight`, shape: [H, I] },
    );
    if (c.qkvBias) {
      out.push(
        { name: `${p}.self_attn.q_proj.bias`, shape: [q] },
        { name: `${p}.self_attn.k_proj.bias`, shape: [kv] },
        { name: `${p}.self_attn.v_proj.bias`, shape: [kv] },
      );
    }
    if (c.oBias) out.push({ name: `${p}.self_attn.o_proj.bias`, shape: [H] });
    if (c.mlpBias) {
      out.push(
        { name: `${p}.mlp.gate_proj.bias`, shape: [I] },
        { name: `${p}.mlp.up_proj.bias`, shape: [I] },
        { name: `${p}.mlp.down_proj.bias`, shape: [H] },
      );
    }
  }
  out.push({ name: 'model.norm.weight', shape: [H] });
  out.push({ name: 'lm_head.weight', shape: [c.vocabSize, H], optional: c.tieWordEmbeddings });
  return out;
}

function gpt2Weights(c: Gpt2Config): WeightSpec[] {
  const H = c.hiddenSize;
  const I = c.intermediateSize;
  const out: WeightSpec[] = [
    { name: 'transformer.wte.weight', shape: [c.vocabSize, H] },
    { name: 'transformer.wpe.weight', shape: [c.maxPositionEmbeddings, H] },
  ];
  for (let i = 0; i < c.numLayers; i++) {
    const p = `transformer.h.${i}`;
    out.push(
      { name: `${p}.ln_1.weight`, shape: [H] },
      { name: `${p}.ln_1.bias`, shape: [H] },
      { name: `${p}.attn.c_attn.weight`, shape: [H, 3 * H], conv1d: true },
      { name: `${p}.attn.c_attn.bias`, shape: [3 * H] },
      { name: `${p}.attn.c_proj.weight`, shape: [H, H], conv1d: true },
      { name: `${p}.attn.c_proj.bias`, shape: [H] },
      { name: `${p}.ln_2.weight`, shape: [H] },
      { name: `${p}.ln_2.bias`, shape: [H] },
      { name: `${p}.mlp.c_fc.weight`, shape: [H, I], conv1d: true },
      { name: `${p}.mlp.c_fc.bias`, shape: [I] },
      { name: `${p}.mlp.c_proj.weight`, shape: [I, H], conv1d: true },
      { name: `${p}.mlp.c_proj.bias`, shape: [H] },
    );
  }
  out.push({ name: 'transformer.ln_f.weight', shape: [H] }, { name: 'transformer.ln_f.bias', shape: [H] });
  out.push({ name: 'lm_head.weight', shape: [c.vocabSize, H], optional: c.tieWordEmbeddings });
  return out;
}

/** Every tensor a checkpoint for this config holds, in transformers' names and shapes. */
export function expectedWeights(config: ModelConfig): WeightSpec[] {
  return config.family === 'gpt2' ? gpt2Weights(config) : llamaWeights(config);
}

/** Name of the token embedding matrix for the config's family. */
export function embeddingName(config: ModelConfig): string {
  return config.family === 'gpt2' ? 'transformer.wte.weight' : 'model.embed_tokens.weight';
}

// Buffers older checkpoints saved alongside the parameters; transformers ignores them on load and so do we.
const IGNORED = [
  /^model\.layers\.\d+\.self_attn\.rotary_emb\.inv_freq$/,
  /^transformer\.h\.\d+\.attn\.(masked_)?bias$/,
];

export interface CheckedWeights {
  /** The checkpoint's tensors under transformers' names (GPT-2's unprefixed names gain `transformer.`), ignorable buffers dropped. */
  readonly weights: Map<string, TensorData>;
  /** The tensor the LM head multiplies by: lm_head.weight, or the embedding matrix when tied. */
  readonly lmHead: string;
  readonly tied: boolean;
}

/**
 * Check a checkpoint against its config: every expected tensor present with its exact shape, nothing else.
 * One error lists every missing, unexpected and mis-shaped tensor so a bad checkpoint is diagnosed in one go.
 */
export function checkWeights(
  config: ModelConfig,
  weights: ReadonlyMap<string, TensorData>,
  where = 'checkpoint',
): CheckedWeights {
  const named = new Map<string, TensorData>();
  // The original GPT-2 checkpoints were saved from GPT2Model, without the `transformer.` prefix.
  const addPrefix = config.family === 'gpt2' && !weights.has('transformer.wte.weight') && weights.has('wte.weight');
  for (const [name, t] of weights) {
    const full = addPrefix && name !== 'lm_head.weight' ? `transformer.${name}` : name;
    if (IGNORED.some((re) => re.test(full))) continue;
    named.set(full, t);
  }
  const missing: string[] = [];
  const misShaped: string[] = [];
  const expected = new Set<string>();
  for (const spec of expectedWeights(config)) {
    expected.add(spec.name);
    const t = named.get(spec.name);
    if (!t) {
      if (!spec.optional) missing.push(`${spec.name} [${spec.shape.join(', ')}]`);
      continue;
    }
    if (t.dims.length !== spec.shape.length || t.dims.some((d, i) => d !== spec.shape[i])) {
      misShaped.push(`${spec.name}: expected [${spec.shape.join(', ')}], got [${t.dims.join(', ')}]`);
    }
  }
  const unexpected = [...named.keys()].filter((n) => !expected.has(n)).sort();
  if (missing.length || misShaped.length || unexpected.length) {
    const parts: string[] = [];
    const list = (label: string, xs: string[]) => {
      if (xs.length) parts.push(`${label} (${xs.length}): ${xs.slice(0, 20).join('; ')}${xs.length > 20 ? '; …' : ''}`);
    };
    list('missing', missing);
    list('wrong shape', misShaped);
    list('unexpected', unexpected);
    const code = missing.length ? 'missing-weights' : misShaped.length ? 'weight-shape' : 'unexpected-weights';
    throw new ModelDirError(code, `${where} does not match its ${config.architecture} config: ${parts.join(' | ')}`);
  }
  // With tied embeddings transformers uses the embedding matrix even when a checkpoint also carries lm_head.weight.
  const tied = config.tieWordEmbeddings;
  if (tied) named.delete('lm_head.weight');
  return { weights: named, lmHead: tied ? embeddingName(config) : 'lm_head.weight', tied };
}
