export {
  type CombinationType,
  type CombineOptions,
  combineLoraAdapters,
  type WeightedLora,
} from './combine.js';
export { CombineError, type CombineErrorCode } from './errors.js';
export { type Svd, svd } from './svd.js';
export { type MajoritySign, magnitudePrune, randomPrune, taskArithmetic, tiesMerge } from './task-arithmetic.js';
