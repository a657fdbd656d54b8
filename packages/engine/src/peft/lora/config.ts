// LoRA's settings under PEFT's LoraConfig field names (r, lora_alpha, lora_dropout, target_modules, bias,
// use_rslora, modules_to_save, fan_in_fan_out), held as the io folder's LoraAdapterConfig so that what trains
// is exactly what adapter_config.json says.

import type { ModelConfig } from '../../io/config.js';
import type { LoraAdapterConfig, PeftAdapterConfig, TargetModules } from '../../io/peft-config.js';
import { parsePeftConfig } from '../../io/peft-config.js';
import { PeftError } from '../errors.js';

export type LoraConfig = LoraAdapterConfig;

/** PEFT's LoraConfig defaults (target_modules null: the architecture's default, resolved by apply). */
export function defaultLoraConfig(): LoraConfig {
  return {
    peftType: 'LORA',
    taskType: 'CAUSAL_LM',
    baseModelNameOrPath: null,
    revision: null,
    inferenceMode: false,
    r: 8,
    loraAlpha: 8,
    loraDropout: 0,
    targetModules: null,
    fanInFanOut: false,
    useRslora: false,
    useDora: false,
    bias: 'none',
    modulesToSave: null,
    rankPattern: {},
    alphaPattern: {},
    layersToTransform: null,
  };
}

/** What the CLI's method flags set, in engine spelling; everything else keeps PEFT's default. */
export interface LoraSettings {
  readonly r?: number;
  readonly loraAlpha?: number;
  readonly loraDropout?: number;
  /** Module names, a regular expression (a string), or 'all-linear'. */
  readonly targetModules?: readonly string[] | string;
  readonly bias?: LoraConfig['bias'];
  readonly useRslora?: boolean;
  readonly modulesToSave?: readonly string[];
  /** DoRA: LoRA with a trained magnitude vector (PEFT's use_dora). */
  readonly useDora?: boolean;
}

export function targetModulesOf(v: readonly string[] | string): TargetModules {
  if (v === 'all-linear') return { kind: 'all-linear' };
  if (typeof v === 'string') {
    try {
      new RegExp(v);
    } catch {
      throw new PeftError('bad-config', `target_modules: not a valid regular expression: ${JSON.stringify(v)}`);
    }
    return { kind: 'regex', pattern: v };
  }
  if (v.length === 0) throw new PeftError('bad-config', 'target_modules: the list of module names is empty');
  return { kind: 'list', names: [...v].sort() };
}

export function makeLoraConfig(s: LoraSettings = {}): LoraConfig {
  const c: LoraConfig = {
    ...defaultLoraConfig(),
    ...(s.r === undefined ? {} : { r: s.r }),
    ...(s.loraAlpha === undefined ? {} : { loraAlpha: s.loraAlpha }),
    ...(s.loraDropout === undefined ? {} : { loraDropout: s.loraDropout }),
    ...(s.targetModules === undefined ? {} : { targetModules: targetModulesOf(s.targetModules) }),
    ...(s.bias === undefined ? {} : { bias: s.bias }),
    ...(s.useRslora === undefined ? {} : { useRslora: s.useRslora }),
    ...(s.modulesToSave === undefined ? {} : { modulesToSave: [...s.modulesToSave] }),
    ...(s.useDora === undefined ? {} : { useDora: s.useDora }),
  };
  checkLoraConfig(c, 'LoRA settings');
  return c;
}

/** Range checks PEFT makes when a LoraConfig is built (r ≤ 0 and the like), with the field named. */
export function checkLoraConfig(c: LoraConfig, where: string): void {
  if (!Number.isSafeInteger(c.r) || c.r <= 0)
    throw new PeftError('bad-config', `${where}: r must be a positive integer, got ${c.r}`);
  if (!Number.isFinite(c.loraAlpha) || c.loraAlpha <= 0)
    throw new PeftError('bad-config', `${where}: lora_alpha must be a positive number, got ${c.loraAlpha}`);
  if (!(c.loraDropout >= 0 && c.loraDropout < 1))
    throw new PeftError('bad-config', `${where}: lora_dropout must be in [0, 1), got ${c.loraDropout}`);
  if (c.bias !== 'none' && c.bias !== 'all' && c.bias !== 'lora_only')
    throw new PeftError('bad-config', `${where}: bias must be "none", "all" or "lora_only", got ${String(c.bias)}`);
}

/** adapter_config.json contents (PEFT's field names) → LoraConfig. */
export function parseLoraConfig(json: unknown, where: string): LoraConfig {
  return asLoraConfig(parsePeftConfig(json, where), where);
}

/** A parsed adapter config (e.g. loadPeftAdapter's) as a LoRA training config; other PEFT types are refused. */
export function asLoraConfig(c: PeftAdapterConfig, where: string): LoraConfig {
  if (c.peftType !== 'LORA')
    throw new PeftError('bad-config', `${where}: peft_type is ${c.peftType}; the lora method reads LORA configs`);
  checkLoraConfig(c, where);
  return c;
}

/** PEFT's default target_modules per model_type (TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING). */
const DEFAULT_TARGETS: Readonly<Record<string, readonly string[]>> = {
  llama: ['q_proj', 'v_proj'],
  mistral: ['q_proj', 'v_proj'],
  qwen2: ['q_proj', 'v_proj'],
  gpt2: ['c_attn'],
};

/** The config apply() uses: default targets filled in, fan_in_fan_out set for GPT-2's Conv1D as PEFT does. */
export function resolveLoraConfig(c: LoraConfig, model: ModelConfig): LoraConfig {
  let targetModules = c.targetModules;
  if (targetModules === null) {
    const names = DEFAULT_TARGETS[model.modelType];
    if (names === undefined)
      throw new PeftError(
        'bad-config',
        `no default LoRA target_modules for model_type '${model.modelType}': set target_modules`,
      );
    targetModules = { kind: 'list', names: [...names] };
  }
  // PEFT warns and overrides fan_in_fan_out to match the layer type (True for Conv1D, False for nn.Linear).
  return { ...c, targetModules, fanInFanOut: model.family === 'gpt2' };
}
