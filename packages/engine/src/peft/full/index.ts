import type { PeftMethod } from '../types.js';
import { applyFull } from './apply.js';
import { type FullConfig, parseFullConfig } from './config.js';

export type { FullConfig } from './config.js';

export const fullMethod: PeftMethod<FullConfig> = {
  name: 'full',
  prefix: 'full:',
  parseConfig: parseFullConfig,
  defaults: () => ({}),
  apply: applyFull,
};
