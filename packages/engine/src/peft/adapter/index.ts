import type { PeftMethod } from '../types.js';
import { type BottleneckConfig, defaultBottleneckConfig, parseBottleneckConfig } from './config.js';
import { applyBottleneck } from './inject.js';

export {
  BOTTLENECK_PEFT_TYPE,
  type BottleneckConfig,
  type BottleneckSettings,
  makeBottleneckConfig,
  NON_LINEARITIES,
  PLACEMENTS,
  parseBottleneckConfig,
} from './config.js';
export { applyBottleneck } from './inject.js';
export { isBottleneckDir, type LoadedBottleneck, loadBottleneck, saveBottleneck } from './state.js';

export const adapterMethod: PeftMethod<BottleneckConfig> = {
  name: 'adapter',
  prefix: 'adapter_',
  parseConfig: parseBottleneckConfig,
  defaults: defaultBottleneckConfig,
  apply: applyBottleneck,
};
