// Prefix tuning's settings under PEFT's PrefixTuningConfig field names: num_virtual_tokens, prefix_projection,
// encoder_hidden_size (the projection's hidden width; default token_dim).

import { Fields } from '../../io/json-fields.js';
import { PeftError } from '../errors.js';
import type { PromptLearningCommon } from '../virtual-tokens.js';

export interface PrefixTuningConfig extends PromptLearningCommon {
  readonly prefixProjection: boolean;
  /** null: token_dim. */
  readonly encoderHiddenSize: number | null;
}

export function defaultPrefixTuningConfig(): PrefixTuningConfig {
  return {
    numVirtualTokens: 20,
    baseModelNameOrPath: null,
    taskType: 'CAUSAL_LM',
    prefixProjection: false,
    encoderHiddenSize: null,
  };
}

export function checkPrefixTuningConfig(c: PrefixTuningConfig, where: string): void {
  if (!(Number.isInteger(c.numVirtualTokens) && c.numVirtualTokens >= 1))
    throw new PeftError(
      'bad-config',
      `${where}: num_virtual_tokens must be an integer >= 1, got ${c.numVirtualTokens}`,
    );
  if (c.encoderHiddenSize !== null && !(Number.isInteger(c.encoderHiddenSize) && c.encoderHiddenSize >= 1))
    throw new PeftError(
      'bad-config',
      `${where}: encoder_hidden_size must be an integer >= 1, got ${c.encoderHiddenSize}`,
    );
}

const fail = (code: string, message: string) => new PeftError('bad-config', `${message} (${code})`);

export function parsePrefixTuningConfig(json: unknown, where: string): PrefixTuningConfig {
  if (typeof json !== 'object' || json === null || Array.isArray(json))
    throw new PeftError('bad-config', `${where}: prefix tuning config must be a JSON object`);
  const f = new Fields(json as Record<string, unknown>, where, fail);
  if (f.has('peft_type') && f.string('peft_type') !== 'PREFIX_TUNING')
    throw new PeftError(
      'adapter-mismatch',
      `${where}: peft_type is ${JSON.stringify(f.obj.peft_type)}, not PREFIX_TUNING; load it with its own method`,
    );
  const d = defaultPrefixTuningConfig();
  const c: PrefixTuningConfig = {
    numVirtualTokens: f.posInt('num_virtual_tokens', d.numVirtualTokens),
    baseModelNameOrPath: f.optString('base_model_name_or_path'),
    taskType: f.optString('task_type') ?? 'CAUSAL_LM',
    prefixProjection: f.bool('prefix_projection', false),
    encoderHiddenSize: f.optPosInt('encoder_hidden_size'),
  };
  checkPrefixTuningConfig(c, where);
  return c;
}

export function prefixTuningFields(c: PrefixTuningConfig, tokenDim: number): Record<string, unknown> {
  return { prefix_projection: c.prefixProjection, encoder_hidden_size: c.encoderHiddenSize ?? tokenDim };
}

export interface PrefixTuningSettings {
  readonly numVirtualTokens?: number;
  readonly prefixProjection?: boolean;
  readonly encoderHiddenSize?: number;
}

export function makePrefixTuningConfig(s: PrefixTuningSettings = {}): PrefixTuningConfig {
  const c: PrefixTuningConfig = {
    ...defaultPrefixTuningConfig(),
    ...(s.numVirtualTokens !== undefined && { numVirtualTokens: s.numVirtualTokens }),
    ...(s.prefixProjection !== undefined && { prefixProjection: s.prefixProjection }),
    ...(s.encoderHiddenSize !== undefined && { encoderHiddenSize: s.encoderHiddenSize }),
  };
  checkPrefixTuningConfig(c, 'prefix tuning settings');
  return c;
}
