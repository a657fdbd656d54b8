import { readFile } from 'node:fs/promises';
import { ConfigError } from './errors.js';
import { Fields } from './json-fields.js';
import { parseRopeScaling, type RopeScaling } from './rope.js';

/** The architectures this engine builds, by the class name in config.json's "architectures". */
export const SUPPORTED_ARCHITECTURES = [
  'LlamaForCausalLM',
  'MistralForCausalLM',
  'Qwen2ForCausalLM',
  'GPT2LMHeadModel',
] as const;
export type Architecture = (typeof SUPPORTED_ARCHITECTURES)[number];

export type HiddenAct = 'silu' | 'gelu' | 'gelu_new' | 'gelu_pytorch_tanh' | 'gelu_fast' | 'relu';
const HIDDEN_ACTS: readonly HiddenAct[] = ['silu', 'gelu', 'gelu_new', 'gelu_pytorch_tanh', 'gelu_fast', 'relu'];

interface CommonConfig {
  readonly architecture: Architecture;
  /** config.json's model_type, e.g. 'llama' for DeepSeek LLM too. */
  readonly modelType: string;
  readonly hiddenSize: number;
  readonly numLayers: number;
  readonly numHeads: number;
  /** Key/value heads; equals numHeads without grouped-query attention (always for GPT-2). */
  readonly numKvHeads: number;
  readonly headDim: number;
  readonly intermediateSize: number;
  readonly vocabSize: number;
  readonly maxPositionEmbeddings: number;
  readonly hiddenAct: HiddenAct;
  /** lm_head shares the token embedding matrix (no lm_head.weight needed in the checkpoint). */
  readonly tieWordEmbeddings: boolean;
  readonly bosTokenId: number | null;
  /** Generation stops at any of these. */
  readonly eosTokenIds: readonly number[];
  readonly padTokenId: number | null;
  /** Stored dtype the checkpoint declares ('float32', 'bfloat16', ...), informational. */
  readonly torchDtype: string | null;
}

/** Llama, Mistral and Qwen2 share one block: RMSNorm, RoPE, grouped-query attention, SwiGLU MLP. */
export interface LlamaFamilyConfig extends CommonConfig {
  readonly family: 'llama';
  readonly architecture: 'LlamaForCausalLM' | 'MistralForCausalLM' | 'Qwen2ForCausalLM';
  readonly rmsNormEps: number;
  readonly ropeTheta: number;
  /** null: plain RoPE. */
  readonly ropeScaling: RopeScaling | null;
  /** Bias on q_proj, k_proj, v_proj (Llama: attention_bias; Qwen2: always). */
  readonly qkvBias: boolean;
  /** Bias on o_proj (Llama: attention_bias; Qwen2 and Mistral: never). */
  readonly oBias: boolean;
  /** Bias on gate/up/down projections (Llama mlp_bias). */
  readonly mlpBias: boolean;
  /** Sliding-window attention size, null when attention is full (Mistral; Qwen2 with use_sliding_window). */
  readonly slidingWindow: number | null;
  /** Qwen2: layers at index >= this use the sliding window (only meaningful when slidingWindow is set). */
  readonly maxWindowLayers: number | null;
}

export interface Gpt2Config extends CommonConfig {
  readonly family: 'gpt2';
  readonly architecture: 'GPT2LMHeadModel';
  readonly layerNormEps: number;
  /** Divide attention scores by sqrt(head_dim). */
  readonly scaleAttnWeights: boolean;
  /** Additionally divide by (layer index + 1). */
  readonly scaleAttnByInverseLayerIdx: boolean;
  readonly reorderAndUpcastAttn: boolean;
}

export type ModelConfig = LlamaFamilyConfig | Gpt2Config;

const MODEL_TYPE_TO_ARCH: Readonly<Record<string, Architecture>> = {
  llama: 'LlamaForCausalLM',
  mistral: 'MistralForCausalLM',
  qwen2: 'Qwen2ForCausalLM',
  gpt2: 'GPT2LMHeadModel',
};

const fail = (code: string, message: string) => new ConfigError(code, message);

/** Read and validate a config.json file. */
export async function loadModelConfig(file: string): Promise<ModelConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (cause) {
    throw new ConfigError(
      'not-found',
      `${file}: cannot read config (${(cause as NodeJS.ErrnoException).code ?? 'error'})`,
      { cause },
    );
  }
  return parseModelConfigText(text, file);
}

/** Validate config.json text; `file` names it in errors. */
export function parseModelConfigText(text: string, file = 'config.json'): ModelConfig {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (cause) {
    throw new ConfigError('invalid-json', `${file}: not valid JSON (${(cause as Error).message})`, { cause });
  }
  return parseModelConfig(json, file);
}

/** Validate a parsed config.json; `file` names it in errors. */
export function parseModelConfig(json: unknown, file = 'config.json'): ModelConfig {
  if (typeof json !== 'object' || json === null || Array.isArray(json))
    throw new ConfigError('not-object', `${file}: must be a JSON object`);
  const f = new Fields(json as Record<string, unknown>, file, fail);
  const architecture = detectArchitecture(f);
  return architecture === 'GPT2LMHeadModel' ? parseGpt2(f) : parseLlamaFamily(f, architecture);
}

function detectArchitecture(f: Fields): Architecture {
  const supported = SUPPORTED_ARCHITECTURES.join(', ');
  const archs = f.optStringList('architectures');
  if (archs && archs.length > 0) {
    const found = archs.find((a): a is Architecture => (SUPPORTED_ARCHITECTURES as readonly string[]).includes(a));
    if (!found)
      throw new ConfigError(
        'unsupported-architecture',
        `${f.file}: architecture ${archs.join(', ')} is not supported (supported: ${supported})`,
      );
    return found;
  }
  const modelType = f.optString('model_type');
  const arch = modelType === null ? undefined : MODEL_TYPE_TO_ARCH[modelType];
  if (!arch) {
    throw new ConfigError(
      'unsupported-architecture',
      `${f.file}: no "architectures" and model_type ${modelType === null ? 'missing' : JSON.stringify(modelType)} is not supported (supported: ${supported})`,
    );
  }
  return arch;
}

function activation(f: Fields, key: string, fallback: HiddenAct): HiddenAct {
  let act = f.string(key, fallback);
  if (act === 'swish') act = 'silu';
  if (!(HIDDEN_ACTS as readonly string[]).includes(act)) {
    throw f.error('unsupported-activation', key, `is ${JSON.stringify(act)}; supported: ${HIDDEN_ACTS.join(', ')}`);
  }
  return act as HiddenAct;
}

function checkHeads(
  f: Fields,
  hiddenSize: number,
  numHeads: number,
  numKvHeads: number,
  explicitHeadDim: boolean,
  hiddenKey: string,
  headsKey: string,
): void {
  if (!explicitHeadDim && hiddenSize % numHeads !== 0) {
    throw f.error('inconsistent', hiddenKey, `(${hiddenSize}) is not divisible by ${headsKey} (${numHeads})`);
  }
  if (numHeads % numKvHeads !== 0) {
    throw f.error('inconsistent', 'num_key_value_heads', `(${numKvHeads}) must divide ${headsKey} (${numHeads})`);
  }
}

function common(f: Fields) {
  return {
    modelType: f.string('model_type', ''),
    bosTokenId: f.optTokenId('bos_token_id'),
    eosTokenIds: f.tokenIds('eos_token_id'),
    padTokenId: f.optTokenId('pad_token_id'),
    torchDtype: f.optString('torch_dtype') ?? f.optString('dtype'),
  };
}

// Defaults are those of the transformers config classes, used only for fields those classes make optional.
const LLAMA_DEFAULTS = {
  LlamaForCausalLM: { rmsNormEps: 1e-6, ropeTheta: 10000, maxPos: 2048, tie: false },
  MistralForCausalLM: { rmsNormEps: 1e-6, ropeTheta: 10000, maxPos: 4096 * 32, tie: false },
  Qwen2ForCausalLM: { rmsNormEps: 1e-6, ropeTheta: 10000, maxPos: 32768, tie: false },
} as const;

function parseLlamaFamily(f: Fields, architecture: LlamaFamilyConfig['architecture']): LlamaFamilyConfig {
  const d = LLAMA_DEFAULTS[architecture];
  const hiddenSize = f.posInt('hidden_size');
  const numLayers = f.posInt('num_hidden_layers');
  const numHeads = f.posInt('num_attention_heads');
  const numKvHeads = f.posInt('num_key_value_heads', numHeads);
  const explicitHeadDim = f.has('head_dim');
  checkHeads(f, hiddenSize, numHeads, numKvHeads, explicitHeadDim, 'hidden_size', 'num_attention_heads');
  const headDim = f.posInt('head_dim', hiddenSize / numHeads);
  if (headDim % 2 !== 0)
    throw f.error(
      'inconsistent',
      explicitHeadDim ? 'head_dim' : 'hidden_size',
      `gives head_dim ${headDim}, which RoPE needs even`,
    );

  // transformers 5 moved rope_theta and the scaling type into "rope_parameters"; 4.x files have them top level.
  const params = f.object('rope_parameters');
  const ropeTheta = params?.has('rope_theta') ? params.posNumber('rope_theta') : f.posNumber('rope_theta', d.ropeTheta);
  const ropeScaling = parseRopeScaling(
    params ?? f.object('rope_scaling'),
    f.file,
    f.number('max_position_embeddings', d.maxPos),
  );

  const attentionBias = f.bool('attention_bias', false);
  const isQwen2 = architecture === 'Qwen2ForCausalLM';
  const isMistral = architecture === 'MistralForCausalLM';
  let slidingWindow: number | null = null;
  let maxWindowLayers: number | null = null;
  if (isMistral) slidingWindow = f.optPosInt('sliding_window');
  if (isQwen2 && f.bool('use_sliding_window', false)) {
    slidingWindow = f.optPosInt('sliding_window');
    maxWindowLayers = f.nonNegInt('max_window_layers', numLayers);
  }
  return {
    family: 'llama',
    architecture,
    ...common(f),
    hiddenSize,
    numLayers,
    numHeads,
    numKvHeads,
    headDim,
    intermediateSize: f.posInt('intermediate_size'),
    vocabSize: f.posInt('vocab_size'),
    maxPositionEmbeddings: f.posInt('max_position_embeddings', d.maxPos),
    hiddenAct: activation(f, 'hidden_act', 'silu'),
    tieWordEmbeddings: f.bool('tie_word_embeddings', d.tie),
    rmsNormEps: f.posNumber('rms_norm_eps', d.rmsNormEps),
    ropeTheta,
    ropeScaling,
    qkvBias: isQwen2 ? true : isMistral ? false : attentionBias,
    oBias: isQwen2 || isMistral ? false : attentionBias,
    mlpBias: isQwen2 || isMistral ? false : f.bool('mlp_bias', false),
    slidingWindow,
    maxWindowLayers,
  };
}

function parseGpt2(f: Fields): Gpt2Config {
  // GPT2Config's attribute_map lets hidden_size etc. stand in for the n_* names.
  const pick = (own: string, alias: string) => (f.has(own) || !f.has(alias) ? own : alias);
  const hiddenKey = pick('n_embd', 'hidden_size');
  const headsKey = pick('n_head', 'num_attention_heads');
  const hiddenSize = f.posInt(hiddenKey);
  const numHeads = f.posInt(headsKey);
  checkHeads(f, hiddenSize, numHeads, numHeads, false, hiddenKey, headsKey);
  return {
    family: 'gpt2',
    architecture: 'GPT2LMHeadModel',
    ...common(f),
    hiddenSize,
    numLayers: f.posInt(pick('n_layer', 'num_hidden_layers')),
    numHeads,
    numKvHeads: numHeads,
    headDim: hiddenSize / numHeads,
    intermediateSize: f.posInt('n_inner', 4 * hiddenSize),
    vocabSize: f.posInt('vocab_size'),
    maxPositionEmbeddings: f.posInt(pick('n_positions', 'max_position_embeddings')),
    hiddenAct: activation(f, 'activation_function', 'gelu_new'),
    tieWordEmbeddings: f.bool('tie_word_embeddings', true),
    layerNormEps: f.posNumber('layer_norm_epsilon', 1e-5),
    scaleAttnWeights: f.bool('scale_attn_weights', true),
    scaleAttnByInverseLayerIdx: f.bool('scale_attn_by_inverse_layer_idx', false),
    reorderAndUpcastAttn: f.bool('reorder_and_upcast_attn', false),
  };
}
