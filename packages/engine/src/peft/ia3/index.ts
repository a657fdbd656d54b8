import type { PeftMethod } from '../types.js';
import { defaultIa3Config, type Ia3Config, parseIa3Config } from './config.js';
import { applyIa3 } from './inject.js';

export {
  asIa3Config,
  checkIa3Config,
  defaultIa3Config,
  type Ia3Config,
  type Ia3Settings,
  makeIa3Config,
  parseIa3Config,
  resolveIa3Config,
} from './config.js';
export { ia3Extension } from './forward.js';
export { applyIa3, ia3Targets } from './inject.js';
export { Ia3Merge, mergeIa3, unmergeIa3 } from './merge.js';

export const ia3Method: PeftMethod<Ia3Config> = {
  name: 'ia3',
  peftType: 'IA3',
  prefix: 'ia3_',
  parseConfig: parseIa3Config,
  defaults: defaultIa3Config,
  apply: applyIa3,
};
