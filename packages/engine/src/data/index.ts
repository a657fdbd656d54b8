export {
  type BatchIteratorOptions,
  type BatchPlanOptions,
  iterateBatches,
  planBatches,
  seededRandom,
  shuffleInPlace,
} from './batches.js';
export { ChatTemplate, type ChatTemplateVars, type TemplateMessage } from './chat-template.js';
export { type Batch, type CollatableRow, type CollateOptions, collate } from './collate.js';
export { ChatTemplateError, DataError, type DataErrorCode, type DataLocation, TokenizerError } from './errors.js';
export { type PreparedRows, prepareTrainingRows, splitRows } from './prepare.js';
export { alpacaToMessages, renderAlpacaPrompt } from './prompt-template.js';
export { iterateDataRows, parseDataRows, type ReadRowsOptions, readDataRows } from './read-rows.js';
export {
  type AlpacaRow,
  CHAT_ROLES,
  type ChatMessage,
  type ChatRole,
  type ChatRow,
  type ClassificationRow,
  DATA_FORMATS,
  type DataFormat,
  type DataRow,
  detectFormat,
  IGNORE_INDEX,
  type PretokenizedRow,
  parseDataRow,
  type RowParseOptions,
  type TextRow,
} from './rows.js';
export {
  type AlpacaTemplate,
  type ClassificationTemplate,
  DEFAULT_CLASSIFICATION_TEMPLATE,
  type TokenizedRow,
  type TokenizeRowsOptions,
  tokenizeRow,
  tokenizeRows,
} from './tokenize-rows.js';
export {
  type ChatTemplateOptions,
  type DecodeOptions,
  type EncodeOptions,
  loadTokenizer,
  type PaddingSide,
  type Tokenizer,
} from './tokenizer.js';
