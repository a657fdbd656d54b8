export { type LeftPaddedBatch, leftPad, positionIdsFromMask } from './batch.js';
export { InferError } from './errors.js';
export { type GenerateOptions, type GenerateStats, type Generation, generate } from './generate.js';
export { type InferenceModel, type OpenModelOptions, openModel } from './model.js';
export { createRng, type Rng, xoshiro128ss } from './rng.js';
export {
  applyRepetitionPenalty,
  applyTemperature,
  applyTopK,
  applyTopP,
  argmax,
  isGreedy,
  type SamplingOptions,
  sampleCategorical,
  selectToken,
  softmax,
  validateSampling,
} from './sampling.js';
export {
  evaluateLoss,
  type LossOptions,
  type LossResult,
  nextTokenLogProbs,
  type OptionScore,
  rightPadForLoss,
  type ScoringRow,
  scoreOptions,
} from './score.js';
export type { DecoderModel, RunnableSession } from './session.js';
