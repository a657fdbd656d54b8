import { PeftFormatError } from './errors.js';
import { Fields } from './json-fields.js';

/** PEFT methods whose adapter files this engine reads and writes. */
export const SUPPORTED_PEFT_TYPES = ['LORA', 'IA3', 'PROMPT_TUNING', 'P_TUNING', 'PREFIX_TUNING'] as const;
export type PeftType = (typeof SUPPORTED_PEFT_TYPES)[number];

/**
 * Which modules an adapter wraps, as PEFT's target_modules: a list (a module matches when its path equals an
 * entry or ends with "." + entry), a regular expression the whole path must match, or "all-linear" (every
 * linear layer except the output head). null: PEFT's per-architecture default.
 */
export type TargetModules =
  | { readonly kind: 'list'; readonly names: readonly string[] }
  | { readonly kind: 'regex'; readonly pattern: string }
  | { readonly kind: 'all-linear' }
  | null;

interface PeftCommon {
  readonly taskType: string | null;
  readonly baseModelNameOrPath: string | null;
  readonly revision: string | null;
  readonly inferenceMode: boolean;
  /** Every field of the file as read, so writing an adapter back keeps what this engine does not interpret. */
  readonly extra?: Readonly<Record<string, unknown>>;
}

export interface LoraAdapterConfig extends PeftCommon {
  readonly peftType: 'LORA';
  readonly r: number;
  readonly loraAlpha: number;
  readonly loraDropout: number;
  readonly targetModules: TargetModules;
  /** The base layer stores its weight [in, out] (GPT-2 Conv1D). */
  readonly fanInFanOut: boolean;
  /** Scale by alpha / sqrt(r) instead of alpha / r. */
  readonly useRslora: boolean;
  readonly useDora: boolean;
  readonly bias: 'none' | 'all' | 'lora_only';
  readonly modulesToSave: readonly string[] | null;
  /** Per-module overrides, keys are PEFT patterns matched against the end of the module path. */
  readonly rankPattern: Readonly<Record<string, number>>;
  readonly alphaPattern: Readonly<Record<string, number>>;
  readonly layersToTransform: readonly number[] | null;
}

export interface Ia3AdapterConfig extends PeftCommon {
  readonly peftType: 'IA3';
  readonly targetModules: TargetModules;
  /** Targets whose input (not output) is scaled. */
  readonly feedforwardModules: TargetModules;
  readonly fanInFanOut: boolean;
  readonly modulesToSave: readonly string[] | null;
}

export interface PromptLearningAdapterConfig extends PeftCommon {
  readonly peftType: 'PROMPT_TUNING' | 'P_TUNING' | 'PREFIX_TUNING';
  readonly numVirtualTokens: number;
  readonly tokenDim: number | null;
  readonly numTransformerSubmodules: number;
  readonly numAttentionHeads: number | null;
  readonly numLayers: number | null;
}

export type PeftAdapterConfig = LoraAdapterConfig | Ia3AdapterConfig | PromptLearningAdapterConfig;

const fail = (code: string, message: string) => new PeftFormatError(code, message);

function targetModules(f: Fields, key: string): TargetModules {
  if (!f.has(key)) return null;
  const v = f.obj[key];
  if (v === 'all-linear') return { kind: 'all-linear' };
  if (typeof v === 'string') {
    try {
      new RegExp(v);
    } catch {
      throw f.error('bad-target-modules', key, `is not a valid regular expression: ${JSON.stringify(v)}`);
    }
    return { kind: 'regex', pattern: v };
  }
  const names = f.optStringList(key);
  if (!names || names.length === 0)
    throw f.error(
      'bad-target-modules',
      key,
      'must be a non-empty list of module names, a regular expression or "all-linear"',
    );
  return { kind: 'list', names: [...names].sort() };
}

function numberMap(f: Fields, key: string): Record<string, number> {
  const o = f.object(key);
  if (!o) return {};
  const out: Record<string, number> = {};
  for (const k of Object.keys(o.obj)) out[k] = o.posNumber(k);
  return out;
}

/** Validate a parsed adapter_config.json; `file` names it in errors. */
export function parsePeftConfig(json: unknown, file = 'adapter_config.json'): PeftAdapterConfig {
  if (typeof json !== 'object' || json === null || Array.isArray(json))
    throw new PeftFormatError('not-object', `${file}: must be a JSON object`);
  const f = new Fields(json as Record<string, unknown>, file, fail);
  const peftType = f.string('peft_type');
  const common: PeftCommon = {
    taskType: f.optString('task_type'),
    baseModelNameOrPath: f.optString('base_model_name_or_path'),
    revision: f.optString('revision'),
    inferenceMode: f.bool('inference_mode', true),
    extra: { ...(json as Record<string, unknown>) },
  };
  switch (peftType) {
    case 'LORA': {
      const bias = f.string('bias', 'none');
      if (bias !== 'none' && bias !== 'all' && bias !== 'lora_only')
        throw f.error('bad-value', 'bias', `must be "none", "all" or "lora_only", got ${JSON.stringify(bias)}`);
      let layersToTransform: number[] | null = null;
      if (f.has('layers_to_transform')) {
        const v = f.obj.layers_to_transform;
        const list = Array.isArray(v) ? v : [v];
        if (!list.every((x) => Number.isSafeInteger(x) && (x as number) >= 0))
          throw f.error('wrong-type', 'layers_to_transform', 'must be a layer index or a list of them');
        layersToTransform = list as number[];
      }
      const rankPattern = numberMap(f, 'rank_pattern');
      for (const [k, v] of Object.entries(rankPattern))
        if (!Number.isSafeInteger(v)) throw f.error('wrong-type', `rank_pattern.${k}`, 'must be an integer');
      return {
        ...common,
        peftType,
        r: f.posInt('r', 8),
        loraAlpha: f.posNumber('lora_alpha', 8),
        loraDropout: f.number('lora_dropout', 0),
        targetModules: targetModules(f, 'target_modules'),
        fanInFanOut: f.bool('fan_in_fan_out', false),
        useRslora: f.bool('use_rslora', false),
        useDora: f.bool('use_dora', false),
        bias,
        modulesToSave: f.optStringList('modules_to_save'),
        rankPattern,
        alphaPattern: numberMap(f, 'alpha_pattern'),
        layersToTransform,
      };
    }
    case 'IA3':
      return {
        ...common,
        peftType,
        targetModules: targetModules(f, 'target_modules'),
        feedforwardModules: targetModules(f, 'feedforward_modules'),
        fanInFanOut: f.bool('fan_in_fan_out', false),
        modulesToSave: f.optStringList('modules_to_save'),
      };
    case 'PROMPT_TUNING':
    case 'P_TUNING':
    case 'PREFIX_TUNING':
      return {
        ...common,
        peftType,
        numVirtualTokens: f.posInt('num_virtual_tokens'),
        tokenDim: f.optPosInt('token_dim'),
        numTransformerSubmodules: f.posInt('num_transformer_submodules', 1),
        numAttentionHeads: f.optPosInt('num_attention_heads'),
        numLayers: f.optPosInt('num_layers'),
      };
    default:
      throw new PeftFormatError(
        'unsupported-peft-type',
        `${file}: peft_type ${JSON.stringify(peftType)} is not supported (supported: ${SUPPORTED_PEFT_TYPES.join(', ')})`,
      );
  }
}

function targetsToJson(t: TargetModules): unknown {
  if (t === null) return null;
  if (t.kind === 'all-linear') return 'all-linear';
  if (t.kind === 'regex') return t.pattern;
  return [...t.names];
}

/** adapter_config.json contents in PEFT's field names; fields read from a file and not interpreted are kept. */
export function peftConfigToJson(c: PeftAdapterConfig): Record<string, unknown> {
  const out: Record<string, unknown> = {
    ...(c.extra ?? {}),
    peft_type: c.peftType,
    task_type: c.taskType,
    base_model_name_or_path: c.baseModelNameOrPath,
    revision: c.revision,
    inference_mode: c.inferenceMode,
  };
  switch (c.peftType) {
    case 'LORA':
      Object.assign(out, {
        r: c.r,
        lora_alpha: c.loraAlpha,
        lora_dropout: c.loraDropout,
        target_modules: targetsToJson(c.targetModules),
        fan_in_fan_out: c.fanInFanOut,
        use_rslora: c.useRslora,
        use_dora: c.useDora,
        bias: c.bias,
        modules_to_save: c.modulesToSave,
        rank_pattern: c.rankPattern,
        alpha_pattern: c.alphaPattern,
        layers_to_transform: c.layersToTransform,
      });
      break;
    case 'IA3':
      Object.assign(out, {
        target_modules: targetsToJson(c.targetModules),
        feedforward_modules: targetsToJson(c.feedforwardModules),
        fan_in_fan_out: c.fanInFanOut,
        modules_to_save: c.modulesToSave,
      });
      break;
    default:
      Object.assign(out, {
        num_virtual_tokens: c.numVirtualTokens,
        token_dim: c.tokenDim,
        num_transformer_submodules: c.numTransformerSubmodules,
        num_attention_heads: c.numAttentionHeads,
        num_layers: c.numLayers,
      });
  }
  const sorted: Record<string, unknown> = {};
  for (const k of Object.keys(out).sort()) sorted[k] = out[k];
  return sorted;
}

/** Whether PEFT would wrap the module at `path` (e.g. "model.layers.0.self_attn.q_proj"). */
export function matchesTargetModules(
  targets: TargetModules,
  path: string,
  opts: { isLinear?: boolean; isOutputLayer?: boolean } = {},
): boolean {
  if (targets === null) return false;
  switch (targets.kind) {
    case 'list':
      return targets.names.some((n) => path === n || path.endsWith(`.${n}`));
    case 'regex':
      // Python's re.fullmatch.
      return new RegExp(`^(?:${targets.pattern})$`).test(path);
    case 'all-linear':
      return (opts.isLinear ?? false) && !(opts.isOutputLayer ?? false);
  }
}

/** PEFT's per-module override lookup (rank_pattern / alpha_pattern): the key matches the end of the module path. */
export function patternValue(patterns: Readonly<Record<string, number>>, path: string, fallback: number): number {
  for (const [key, value] of Object.entries(patterns)) {
    let re: RegExp;
    try {
      re = new RegExp(`^(?:.*\\.)?(?:${key})$`);
    } catch {
      continue;
    }
    if (re.test(path)) return value;
  }
  return fallback;
}

/** LoRA's scale for a module: alpha / r, or alpha / sqrt(r) with rsLoRA, honouring rank and alpha patterns. */
export function loraScale(c: LoraAdapterConfig, path: string): number {
  const r = patternValue(c.rankPattern, path, c.r);
  const alpha = patternValue(c.alphaPattern, path, c.loraAlpha);
  return c.useRslora ? alpha / Math.sqrt(r) : alpha / r;
}
