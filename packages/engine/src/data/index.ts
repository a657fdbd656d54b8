export { ChatTemplate, type ChatTemplateVars, type TemplateMessage } from './chat-template.js';
export { ChatTemplateError, DataError, type DataErrorCode, type DataLocation, TokenizerError } from './errors.js';
export {
  type ChatTemplateOptions,
  type DecodeOptions,
  type EncodeOptions,
  loadTokenizer,
  type PaddingSide,
  type Tokenizer,
} from './tokenizer.js';
export {
  type AlpacaRow,
  CHAT_ROLES,
  type ChatMessage,
  type ChatRole,
  type ChatRow,
  DATA_FORMATS,
  type DataFormat,
  type DataRow,
  detectFormat,
  IGNORE_INDEX,
  parseDataRow,
  type PretokenizedRow,
  type RowParseOptions,
  type TextRow,
} from './rows.js';
export { iterateDataRows, parseDataRows, type ReadRowsOptions, readDataRows } from './read-rows.js';
export { alpacaToMessages, renderAlpacaPrompt } from './prompt-template.js';
export {
  type AlpacaTemplate,
  type TokenizedRow,
  type TokenizeRowsOptions,
  tokenizeRow,
  tokenizeRows,
} from './tokenize-rows.js';
export { type Batch, type CollatableRow, type CollateOptions, collate } from './collate.js';
export {
  type BatchIteratorOptions,
  type BatchPlanOptions,
  iterateBatches,
  planBatches,
  seededRandom,
  shuffleInPlace,
} from './batches.js';
