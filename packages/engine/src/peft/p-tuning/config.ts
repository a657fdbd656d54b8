// P-tuning's settings under PEFT's PromptEncoderConfig field names: num_virtual_tokens,
// encoder_reparameterization_type (MLP or LSTM), encoder_hidden_size (default: the model's hidden size),
// encoder_num_layers (LSTM layers; PEFT's MLP always has its two hidden layers), encoder_dropout (between
// LSTM layers, as torch's nn.LSTM applies it).

import { Fields } from '../../io/json-fields.js';
import { PeftError } from '../errors.js';
import type { PromptLearningCommon } from '../virtual-tokens.js';

export const P_TUNING_ENCODERS = ['MLP', 'LSTM'] as const;
export type PTuningEncoder = (typeof P_TUNING_ENCODERS)[number];

export interface PTuningConfig extends PromptLearningCommon {
  readonly encoderReparameterizationType: PTuningEncoder;
  /** null: the model's hidden size (PEFT fills token_dim in). */
  readonly encoderHiddenSize: number | null;
  readonly encoderNumLayers: number;
  readonly encoderDropout: number;
}

export function defaultPTuningConfig(): PTuningConfig {
  return {
    numVirtualTokens: 20,
    baseModelNameOrPath: null,
    taskType: 'CAUSAL_LM',
    encoderReparameterizationType: 'MLP',
    encoderHiddenSize: null,
    encoderNumLayers: 2,
    encoderDropout: 0,
  };
}

export function checkPTuningConfig(c: PTuningConfig, where: string): void {
  if (!(Number.isInteger(c.numVirtualTokens) && c.numVirtualTokens >= 1))
    throw new PeftError(
      'bad-config',
      `${where}: num_virtual_tokens must be an integer >= 1, got ${c.numVirtualTokens}`,
    );
  if (!P_TUNING_ENCODERS.includes(c.encoderReparameterizationType))
    throw new PeftError(
      'bad-config',
      `${where}: encoder_reparameterization_type must be MLP or LSTM, got ${JSON.stringify(c.encoderReparameterizationType)}`,
    );
  if (c.encoderHiddenSize !== null && !(Number.isInteger(c.encoderHiddenSize) && c.encoderHiddenSize >= 1))
    throw new PeftError(
      'bad-config',
      `${where}: encoder_hidden_size must be an integer >= 1, got ${c.encoderHiddenSize}`,
    );
  if (!(Number.isInteger(c.encoderNumLayers) && c.encoderNumLayers >= 1))
    throw new PeftError(
      'bad-config',
      `${where}: encoder_num_layers must be an integer >= 1, got ${c.encoderNumLayers}`,
    );
  if (!(c.encoderDropout >= 0 && c.encoderDropout < 1))
    throw new PeftError('bad-config', `${where}: encoder_dropout must be in [0, 1), got ${c.encoderDropout}`);
}

const fail = (code: string, message: string) => new PeftError('bad-config', `${message} (${code})`);

export function parsePTuningConfig(json: unknown, where: string): PTuningConfig {
  if (typeof json !== 'object' || json === null || Array.isArray(json))
    throw new PeftError('bad-config', `${where}: P-tuning config must be a JSON object`);
  const f = new Fields(json as Record<string, unknown>, where, fail);
  if (f.has('peft_type') && f.string('peft_type') !== 'P_TUNING')
    throw new PeftError(
      'adapter-mismatch',
      `${where}: peft_type is ${JSON.stringify(f.obj.peft_type)}, not P_TUNING; load it with its own method`,
    );
  const d = defaultPTuningConfig();
  const c: PTuningConfig = {
    numVirtualTokens: f.posInt('num_virtual_tokens', d.numVirtualTokens),
    baseModelNameOrPath: f.optString('base_model_name_or_path'),
    taskType: f.optString('task_type') ?? 'CAUSAL_LM',
    encoderReparameterizationType: f.string('encoder_reparameterization_type', 'MLP') as PTuningEncoder,
    encoderHiddenSize: f.optPosInt('encoder_hidden_size'),
    encoderNumLayers: f.posInt('encoder_num_layers', d.encoderNumLayers),
    encoderDropout: f.number('encoder_dropout', 0),
  };
  checkPTuningConfig(c, where);
  return c;
}

export function pTuningFields(c: PTuningConfig, hidden: number): Record<string, unknown> {
  return {
    encoder_reparameterization_type: c.encoderReparameterizationType,
    encoder_hidden_size: c.encoderHiddenSize ?? hidden,
    encoder_num_layers: c.encoderNumLayers,
    encoder_dropout: c.encoderDropout,
  };
}

export interface PTuningSettings {
  readonly numVirtualTokens?: number;
  readonly encoder?: PTuningEncoder;
  readonly encoderHiddenSize?: number;
  readonly encoderNumLayers?: number;
  readonly encoderDropout?: number;
}

export function makePTuningConfig(s: PTuningSettings = {}): PTuningConfig {
  const c: PTuningConfig = {
    ...defaultPTuningConfig(),
    ...(s.numVirtualTokens !== undefined && { numVirtualTokens: s.numVirtualTokens }),
    ...(s.encoder !== undefined && { encoderReparameterizationType: s.encoder }),
    ...(s.encoderHiddenSize !== undefined && { encoderHiddenSize: s.encoderHiddenSize }),
    ...(s.encoderNumLayers !== undefined && { encoderNumLayers: s.encoderNumLayers }),
    ...(s.encoderDropout !== undefined && { encoderDropout: s.encoderDropout }),
  };
  checkPTuningConfig(c, 'P-tuning settings');
  return c;
}
