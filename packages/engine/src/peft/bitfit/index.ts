import type { PeftMethod } from '../types.js';
import { applyBitfit } from './apply.js';
import { type BitfitConfig, defaultBitfitConfig, parseBitfitConfig } from './config.js';

export {
  BITFIT_CONFIG_FILE,
  BITFIT_WEIGHTS_FILE,
  type BitfitConfig,
  bitfitConfigToJson,
  parseBitfitConfig,
} from './config.js';
export { isBitfitDir, type LoadedBitfit, loadBitfit, loadBitfitModel, saveBitfit, withBitfit } from './state.js';

export const bitfitMethod: PeftMethod<BitfitConfig> = {
  name: 'bitfit',
  prefix: 'bitfit:',
  parseConfig: parseBitfitConfig,
  defaults: defaultBitfitConfig,
  apply: applyBitfit,
};
