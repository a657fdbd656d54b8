import type { PeftMethod } from '../types.js';
import { defaultLoraConfig, type LoraConfig, parseLoraConfig } from './config.js';
import { applyLora } from './inject.js';

export {
  asLoraConfig,
  checkLoraConfig,
  defaultLoraConfig,
  type LoraConfig,
  type LoraSettings,
  makeLoraConfig,
  parseLoraConfig,
  resolveLoraConfig,
} from './config.js';
export { kaimingUniformA } from './init.js';
export { applyLora, loraTargets } from './inject.js';
export { LoraMerge, mergeLora, unmergeLora } from './merge.js';
export { saveLoraAdapter } from './save.js';
export { paramNameOf as loraParamName, savedKeyOf as loraSavedKey } from './state.js';

export const loraMethod: PeftMethod<LoraConfig> = {
  name: 'lora',
  peftType: 'LORA',
  prefix: 'lora_',
  parseConfig: parseLoraConfig,
  defaults: defaultLoraConfig,
  apply: applyLora,
};
