import type { PeftMethod } from '../types.js';
import { applyPTuning } from './apply.js';
import { defaultPTuningConfig, type PTuningConfig, parsePTuningConfig } from './config.js';

export { applyPTuning, pTuningExtension, pTuningShape } from './apply.js';
export {
  defaultPTuningConfig,
  makePTuningConfig,
  P_TUNING_ENCODERS,
  type PTuningConfig,
  type PTuningEncoder,
  type PTuningSettings,
  parsePTuningConfig,
} from './config.js';
export { buildPromptEncoder, encoderTensors, P_TUNING_PREFIX } from './encoder.js';

export const pTuningMethod: PeftMethod<PTuningConfig> = {
  name: 'p-tuning',
  peftType: 'P_TUNING',
  prefix: 'prompt_encoder.',
  parseConfig: parsePTuningConfig,
  defaults: defaultPTuningConfig,
  apply: applyPTuning,
};
