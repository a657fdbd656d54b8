export { type BleuOptions, type BleuResult, type BleuSmoothing, corpusBleu } from './bleu.js';
export { type ClassificationReport, classificationReport, type LabelMetrics } from './classification.js';
export { type ContinuationScoreOptions, scoreContinuations } from './continuation-scores.js';
export { EvaluationError, type EvaluationErrorCode } from './errors.js';
export { exactMatch, exactMatchOne } from './exact-match.js';
export { type GenerationExample, generationExample } from './generation-prompt.js';
export {
  classifyByLabelWords,
  type LabelWordOptions,
  type LabelWordPrediction,
  requireClassificationRows,
  taskLabels,
} from './label-words.js';
export { lcsLength, type RougeLScore, rougeL, rougeLOne, rougeLPair } from './rouge-l.js';
export { type RowScore, type RowScoreOptions, scoreRows } from './row-scores.js';
export { streamGenerate } from './stream-generate.js';
export {
  type GenerativeMetric,
  METRIC_TASKS,
  type MetricKind,
  type MetricName,
  type MetricTask,
  scoreGenerations,
} from './tasks.js';
export { answerTokens, bleuTokens, normalizeAnswer, rougeTokens } from './text.js';
export { tokenF1, tokenF1One } from './token-f1.js';
