// IA3's settings under PEFT's IA3Config field names (target_modules, feedforward_modules, fan_in_fan_out,
// modules_to_save), held as the io folder's Ia3AdapterConfig so that what trains is what adapter_config.json says.

import type { ModelConfig } from '../../io/config.js';
import type { Ia3AdapterConfig, PeftAdapterConfig } from '../../io/peft-config.js';
import { parsePeftConfig } from '../../io/peft-config.js';
import { PeftError } from '../errors.js';
import { targetModulesOf } from '../lora/config.js';

export type Ia3Config = Ia3AdapterConfig;

/** PEFT's IA3Config defaults (null target/feed-forward modules: the architecture's defaults, filled by apply). */
export function defaultIa3Config(): Ia3Config {
  return {
    peftType: 'IA3',
    taskType: 'CAUSAL_LM',
    baseModelNameOrPath: null,
    revision: null,
    inferenceMode: false,
    targetModules: null,
    feedforwardModules: null,
    fanInFanOut: false,
    modulesToSave: null,
  };
}

/** What the CLI and the trainer service set, in engine spelling; the rest keeps PEFT's default. */
export interface Ia3Settings {
  readonly targetModules?: readonly string[] | string;
  readonly feedforwardModules?: readonly string[] | string;
}

export function makeIa3Config(s: Ia3Settings = {}): Ia3Config {
  const c: Ia3Config = {
    ...defaultIa3Config(),
    ...(s.targetModules === undefined ? {} : { targetModules: targetModulesOf(s.targetModules) }),
    ...(s.feedforwardModules === undefined ? {} : { feedforwardModules: targetModulesOf(s.feedforwardModules) }),
  };
  checkIa3Config(c, 'IA3 settings');
  return c;
}

/** The checks PEFT's IA3Config makes, plus what this engine does not do (modules_to_save). */
export function checkIa3Config(c: Ia3Config, where: string): void {
  const t = c.targetModules;
  const f = c.feedforwardModules;
  // PEFT: "feedforward_modules should be a subset of target_modules" (checked when both are lists).
  if (t?.kind === 'list' && f?.kind === 'list') {
    const extra = f.names.filter((n) => !t.names.includes(n));
    if (extra.length > 0)
      throw new PeftError(
        'bad-config',
        `${where}: feedforward_modules ${extra.map((n) => `'${n}'`).join(', ')} not in target_modules [${t.names.join(', ')}]; feedforward_modules must be a subset of target_modules`,
      );
  }
  if (c.modulesToSave !== null && c.modulesToSave.length > 0)
    throw new PeftError(
      'unsupported',
      `${where}: IA3 modules_to_save (${c.modulesToSave.join(', ')}) is not supported; leave it empty`,
    );
}

/** adapter_config.json contents (PEFT's field names) → Ia3Config. */
export function parseIa3Config(json: unknown, where: string): Ia3Config {
  return asIa3Config(parsePeftConfig(json, where), where);
}

/** A parsed adapter config as an IA3 config; an adapter of another method is refused with its type named. */
export function asIa3Config(c: PeftAdapterConfig, where: string): Ia3Config {
  if (c.peftType !== 'IA3')
    throw new PeftError('bad-config', `${where}: peft_type is ${c.peftType}; the ia3 method reads IA3 configs`);
  checkIa3Config(c, where);
  return c;
}

// PEFT's TRANSFORMERS_MODELS_TO_IA3_TARGET_MODULES_MAPPING and ..._FEEDFORWARD_MODULES_MAPPING.
const LLAMA = { target: ['k_proj', 'v_proj', 'down_proj'], ff: ['down_proj'] };
const DEFAULTS: Readonly<Record<string, { target: readonly string[]; ff: readonly string[] }>> = {
  llama: LLAMA,
  mistral: LLAMA,
  qwen2: LLAMA,
  gpt2: { target: ['c_attn', 'mlp.c_proj'], ff: ['mlp.c_proj'] },
};

/** The config apply() uses: defaults filled in per model_type (each independently, as PEFT does), fan_in_fan_out set. */
export function resolveIa3Config(c: Ia3Config, model: ModelConfig): Ia3Config {
  const d = DEFAULTS[model.modelType];
  if (d === undefined && (c.targetModules === null || c.feedforwardModules === null))
    throw new PeftError(
      'bad-config',
      `no default IA3 target_modules/feedforward_modules for model_type '${model.modelType}': set both`,
    );
  return {
    ...c,
    targetModules: c.targetModules ?? { kind: 'list', names: [...(d?.target ?? [])].sort() },
    feedforwardModules: c.feedforwardModules ?? { kind: 'list', names: [...(d?.ff ?? [])].sort() },
    // PEFT sets fan_in_fan_out to match the layer type (True for GPT-2's Conv1D).
    fanInFanOut: model.family === 'gpt2',
  };
}
