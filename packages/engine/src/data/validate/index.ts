// Validation reports shared by the CLI and the dataset service.
export { checkRow, type DataErrorFacts, findingOfDataError, kindOfDataError } from './check-row.js';
export { applyMapping, type ColumnMapping, typeCsvCells } from './mapping.js';
export { readParquet } from './parquet.js';
export {
  type Finding,
  type FindingKind,
  type FindingSeverity,
  type FindingTotal,
  formatFinding,
  MAX_LISTED_FINDINGS,
  ReportBuilder,
  type ValidationReport,
} from './report.js';
export {
  type DetectedFile,
  detectFileFormat,
  FILE_FORMATS,
  type FileFormat,
  iterateLines,
  MAX_JSON_ARRAY_BYTES,
  type RawRecord,
  readCsv,
  readJsonArray,
  readJsonl,
} from './sources.js';
export { type HistogramBucket, type LengthStatistics, LengthStatsBuilder } from './stats.js';
export {
  type DataErrorData,
  DataValidation,
  effectiveMaxLength,
  type OverlengthPolicy,
  type RowCounts,
  type RowTokenization,
  type RowTokenizeSettings,
  rowKey,
  rowTokenizeSettings,
  tokenizeForValidation,
  type ValidatedExample,
  type ValidateOptions,
  type ValidationSummary,
  validateDataFile,
} from './validate.js';
