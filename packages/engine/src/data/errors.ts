import { EngineError } from '../errors.js';

/** Where a data problem sits: the file (or source name), the 1-based line or row, and the field at fault. */
export interface DataLocation {
  file: string;
  line?: number;
  field?: string;
}

/**
 * A data row or data file that cannot be used. The message always starts with `file:line` (when the line is
 * known) so a CLI can print it as is; the structured fields let a service build a validation report.
 */
export class DataError extends EngineError {
  override readonly name = 'DataError';
  readonly file: string | undefined;
  readonly line: number | undefined;
  readonly field: string | undefined;

  constructor(code: DataErrorCode, where: DataLocation | undefined, message: string, opts?: { cause?: unknown }) {
    super(code, `${locationText(where)}${message}`, opts);
    this.file = where?.file;
    this.line = where?.line;
    this.field = where?.field;
  }
}

function locationText(where: DataLocation | undefined): string {
  if (where === undefined) return '';
  const at = where.line === undefined ? where.file : `${where.file}:${where.line}`;
  const field = where.field === undefined ? '' : ` (field '${where.field}')`;
  return `${at}${field}: `;
}

/** Stable codes, so callers (the dataset service's report, the CLI) can count findings per kind. */
export type DataErrorCode =
  | 'DATA_IO' // the file could not be read
  | 'DATA_ENCODING' // a line is not valid UTF-8
  | 'DATA_EMPTY' // no rows at all
  | 'DATA_JSON' // a line is not valid JSON
  | 'DATA_NOT_OBJECT' // a line is JSON but not an object
  | 'DATA_FORMAT' // a row matches no known format, or not the file's format
  | 'DATA_FIELD_MISSING'
  | 'DATA_FIELD_TYPE'
  | 'DATA_TOKEN_ID' // an id that is not an integer or is outside the vocabulary
  | 'DATA_LABELS_LENGTH'
  | 'DATA_ROLE' // a chat message role other than system/user/assistant
  | 'DATA_TEMPLATE' // a row the chat template cannot be mapped onto (assistant text not found)
  | 'DATA_OPTION'; // a bad option passed by the caller (e.g. batch size 0)

/** tokenizer.json / tokenizer_config.json / generation_config.json missing or unusable. */
export class TokenizerError extends EngineError {
  override readonly name = 'TokenizerError';
  readonly file: string;

  constructor(file: string, message: string, opts?: { cause?: unknown }) {
    super('TOKENIZER', `${file}: ${message}`, opts);
    this.file = file;
  }
}

/** A chat template that does not compile, fails while rendering, or calls raise_exception. */
export class ChatTemplateError extends EngineError {
  override readonly name = 'ChatTemplateError';

  constructor(message: string, opts?: { cause?: unknown }) {
    super('CHAT_TEMPLATE', message, opts);
  }
}
