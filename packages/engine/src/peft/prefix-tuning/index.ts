import type { PeftMethod } from '../types.js';
import { applyPrefixTuning } from './apply.js';
import { defaultPrefixTuningConfig, type PrefixTuningConfig, parsePrefixTuningConfig } from './config.js';

export {
  applyPrefixTuning,
  buildPrefixRows,
  PREFIX_PREFIX,
  prefixDims,
  prefixExtension,
  prefixWidth,
  savedPrefixExtension,
} from './apply.js';
export {
  defaultPrefixTuningConfig,
  makePrefixTuningConfig,
  type PrefixTuningConfig,
  type PrefixTuningSettings,
  parsePrefixTuningConfig,
} from './config.js';

export const prefixTuningMethod: PeftMethod<PrefixTuningConfig> = {
  name: 'prefix-tuning',
  peftType: 'PREFIX_TUNING',
  prefix: 'prefix_encoder.',
  parseConfig: parsePrefixTuningConfig,
  defaults: defaultPrefixTuningConfig,
  apply: applyPrefixTuning,
};
