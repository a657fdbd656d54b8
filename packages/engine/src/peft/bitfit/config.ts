// BitFit (Ben Zaken et al., 2021) has no PEFT peft_type, so its saved form is ours: the trained biases under
// their Hugging Face names in bitfit_model.safetensors, and tunemesh_config.json saying what they are.

import { PeftError } from '../errors.js';

export const BITFIT_CONFIG_FILE = 'tunemesh_config.json';
export const BITFIT_WEIGHTS_FILE = 'bitfit_model.safetensors';

export interface BitfitConfig {
  /** Model the biases were trained on (written on save). */
  readonly baseModelNameOrPath: string | null;
}

export function defaultBitfitConfig(): BitfitConfig {
  return { baseModelNameOrPath: null };
}

/** tunemesh_config.json of a BitFit directory: {"method": "bitfit", "base_model_name_or_path": …}. */
export function parseBitfitConfig(json: unknown, where: string): BitfitConfig {
  if (typeof json !== 'object' || json === null || Array.isArray(json))
    throw new PeftError('bad-config', `${where}: BitFit config must be a JSON object`);
  const o = json as Record<string, unknown>;
  if (o.method !== undefined && o.method !== 'bitfit')
    throw new PeftError('bad-config', `${where}: method is ${JSON.stringify(o.method)}, expected "bitfit"`);
  const base = o.base_model_name_or_path ?? null;
  if (base !== null && typeof base !== 'string')
    throw new PeftError('bad-config', `${where}: base_model_name_or_path must be a string`);
  for (const k of Object.keys(o))
    if (!['method', 'base_model_name_or_path', 'tensors'].includes(k))
      throw new PeftError('bad-config', `${where}: unknown BitFit field '${k}'`);
  return { baseModelNameOrPath: base };
}

export function bitfitConfigToJson(c: BitfitConfig, tensors: readonly string[]): Record<string, unknown> {
  return { base_model_name_or_path: c.baseModelNameOrPath, method: 'bitfit', tensors: [...tensors].sort() };
}
