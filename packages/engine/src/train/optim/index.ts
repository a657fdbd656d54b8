export { type AdamWOptions, createAdamW } from './adamw.js';
export { createSgd, type SgdOptions } from './sgd.js';
export type { Optimizer } from './types.js';
