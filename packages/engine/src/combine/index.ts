export {
  type CombinationType,
  type CombineOptions,
  combineLoraAdapters,
  type WeightedLora,
} from './combine.js';
export { CombineError, type CombineErrorCode } from './errors.js';
export { type Svd, svd } from './svd.js';
