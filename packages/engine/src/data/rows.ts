import { DataError, type DataLocation } from './errors.js';

/** The row formats a data file may hold (one format per file). */
export type DataFormat = 'pretokenized' | 'chat' | 'alpaca' | 'classification' | 'text';
export const DATA_FORMATS: readonly DataFormat[] = ['pretokenized', 'chat', 'alpaca', 'classification', 'text'];

export type ChatRole = 'system' | 'user' | 'assistant';
export const CHAT_ROLES: readonly ChatRole[] = ['system', 'user', 'assistant'];

export interface ChatMessage {
  role: ChatRole;
  content: string;
  /** 0 excludes an assistant message from the loss (OpenAI's fine-tuning convention); default 1. */
  weight?: 0 | 1;
}

interface RowBase {
  /** 1-based line (or row) in the source, for messages. */
  line: number;
}
/** {"input_ids":[…],"labels":[…]}: labels optional, -100 masks a position. */
export interface PretokenizedRow extends RowBase {
  format: 'pretokenized';
  input_ids: number[];
  labels?: number[];
}
/** {"messages":[{role, content}]} rendered with the model's chat template. */
export interface ChatRow extends RowBase {
  format: 'chat';
  messages: ChatMessage[];
}
/** {instruction, input?, output, system?}. */
export interface AlpacaRow extends RowBase {
  format: 'alpaca';
  instruction: string;
  input?: string;
  output: string;
  system?: string;
}
/** {"text": …}: every token scored. */
export interface TextRow extends RowBase {
  format: 'text';
  text: string;
}
/**
 * {"text": …, "label": …}: a text and its class (a string or an integer, e.g. IMDB's 0/1), trained as a
 * prompt (template around the text) followed by the label's word, with loss on the label word only.
 */
export interface ClassificationRow extends RowBase {
  format: 'classification';
  text: string;
  label: string | number;
}
export type DataRow = PretokenizedRow | ChatRow | AlpacaRow | ClassificationRow | TextRow;

export interface RowParseOptions {
  /** Name used in messages (the file path, or an upload's name). */
  file: string;
  /** The file's format; when absent, the first row decides (see detectFormat). */
  format?: DataFormat;
  /** When given, pre-tokenised ids (and labels other than -100) must lie in [0, vocabSize). */
  vocabSize?: number;
}

/** The label value that excludes a position from the loss (PyTorch's ignore_index). */
export const IGNORE_INDEX = -100;

type Obj = Record<string, unknown>;

/**
 * Which format an object looks like, by its distinguishing key; undefined when none. Order matters where
 * keys overlap: pre-tokenised rows often carry their source text too, and the classification format
 * ({text, label}) must be checked before plain text.
 */
export function detectFormat(value: unknown): DataFormat | undefined {
  if (!isObject(value)) return undefined;
  if ('input_ids' in value) return 'pretokenized';
  if ('messages' in value) return 'chat';
  if ('instruction' in value || 'output' in value) return 'alpaca';
  if ('text' in value && 'label' in value) return 'classification';
  if ('text' in value) return 'text';
  return undefined;
}

/**
 * Validates one parsed JSON value as a row of `format` (or of its detected format). Importers of other
 * containers (JSON arrays, CSV, Parquet) call this too, so every source gets the same checks and messages.
 */
export function parseDataRow(value: unknown, line: number, opts: RowParseOptions): DataRow {
  const at = (field?: string): DataLocation => ({ file: opts.file, line, field });
  if (!isObject(value)) {
    throw new DataError('DATA_NOT_OBJECT', at(), `expected a JSON object, got ${describe(value)}`);
  }
  const detected = detectFormat(value);
  const format = opts.format ?? detected;
  if (format === undefined) {
    throw new DataError(
      'DATA_FORMAT',
      at(),
      `row is in no known format (pre-tokenised {input_ids, labels?}, chat {messages}, alpaca {instruction, input?, output}, classification {text, label}, text {text}); keys: ${keyList(value)}`,
    );
  }
  switch (format) {
    case 'pretokenized':
      return parsePretokenized(value, line, at, opts.vocabSize);
    case 'chat':
      return parseChat(value, line, at);
    case 'alpaca':
      return parseAlpaca(value, line, at);
    case 'classification':
      return parseClassification(value, line, at);
    case 'text':
      return { format: 'text', line, text: requireString(value, 'text', at) };
    default:
      throw new DataError(
        'DATA_OPTION',
        undefined,
        `unknown data format ${JSON.stringify(format)}; expected one of ${DATA_FORMATS.join(', ')}`,
      );
  }
}

function parsePretokenized(
  value: Obj,
  line: number,
  at: (field?: string) => DataLocation,
  vocabSize: number | undefined,
): PretokenizedRow {
  const ids = requireArray(value, 'input_ids', at);
  if (ids.length === 0) throw new DataError('DATA_FIELD_TYPE', at('input_ids'), 'must not be empty');
  const inputIds = ids.map((v, i) => tokenId(v, `input_ids[${i}]`, at, vocabSize, false));
  const rawLabels = value.labels;
  if (rawLabels === undefined || rawLabels === null) return { format: 'pretokenized', line, input_ids: inputIds };
  if (!Array.isArray(rawLabels)) {
    throw new DataError('DATA_FIELD_TYPE', at('labels'), `must be an array of integers, got ${describe(rawLabels)}`);
  }
  if (rawLabels.length !== inputIds.length) {
    throw new DataError(
      'DATA_LABELS_LENGTH',
      at('labels'),
      `has ${rawLabels.length} entries but input_ids has ${inputIds.length}; they must be the same length`,
    );
  }
  const labels = rawLabels.map((v, i) => tokenId(v, `labels[${i}]`, at, vocabSize, true));
  return { format: 'pretokenized', line, input_ids: inputIds, labels };
}

function tokenId(
  v: unknown,
  field: string,
  at: (field?: string) => DataLocation,
  vocabSize: number | undefined,
  isLabel: boolean,
): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v)) {
    throw new DataError('DATA_TOKEN_ID', at(field), `must be an integer token id, got ${describe(v)}`);
  }
  if (isLabel && v === IGNORE_INDEX) return v;
  if (v < 0 || (vocabSize !== undefined && v >= vocabSize)) {
    const range = vocabSize === undefined ? '>= 0' : `in [0, ${vocabSize})`;
    throw new DataError('DATA_TOKEN_ID', at(field), `${v} is not a token id ${range}${isLabel ? ' or -100' : ''}`);
  }
  return v;
}

function parseChat(value: Obj, line: number, at: (field?: string) => DataLocation): ChatRow {
  const raw = requireArray(value, 'messages', at);
  if (raw.length === 0) throw new DataError('DATA_FIELD_TYPE', at('messages'), 'must not be empty');
  const messages = raw.map((m, i): ChatMessage => {
    const field = `messages[${i}]`;
    if (!isObject(m)) throw new DataError('DATA_FIELD_TYPE', at(field), `must be an object, got ${describe(m)}`);
    const role = m.role;
    if (typeof role !== 'string') {
      const code = role === undefined ? 'DATA_FIELD_MISSING' : 'DATA_FIELD_TYPE';
      throw new DataError(code, at(`${field}.role`), `must be one of ${CHAT_ROLES.join(', ')}, got ${describe(role)}`);
    }
    if (!(CHAT_ROLES as readonly string[]).includes(role)) {
      throw new DataError(
        'DATA_ROLE',
        at(`${field}.role`),
        `unknown role ${JSON.stringify(role)}; expected one of ${CHAT_ROLES.join(', ')}`,
      );
    }
    const content = requireString(m, 'content', at, field);
    const message: ChatMessage = { role: role as ChatRole, content };
    const weight = m.weight;
    if (weight !== undefined && weight !== null) {
      if (weight !== 0 && weight !== 1) {
        throw new DataError('DATA_FIELD_TYPE', at(`${field}.weight`), `must be 0 or 1, got ${describe(weight)}`);
      }
      message.weight = weight;
    }
    return message;
  });
  return { format: 'chat', line, messages };
}

function parseAlpaca(value: Obj, line: number, at: (field?: string) => DataLocation): AlpacaRow {
  const row: AlpacaRow = {
    format: 'alpaca',
    line,
    instruction: requireString(value, 'instruction', at),
    output: requireString(value, 'output', at),
  };
  const input = optionalString(value, 'input', at);
  if (input !== undefined) row.input = input;
  const system = optionalString(value, 'system', at);
  if (system !== undefined) row.system = system;
  return row;
}

function parseClassification(value: Obj, line: number, at: (field?: string) => DataLocation): ClassificationRow {
  const text = requireString(value, 'text', at);
  const label = value.label;
  if (label === undefined) throw new DataError('DATA_FIELD_MISSING', at('label'), 'is missing');
  const ok = typeof label === 'string' ? label !== '' : typeof label === 'number' && Number.isSafeInteger(label);
  if (!ok) {
    throw new DataError(
      'DATA_FIELD_TYPE',
      at('label'),
      `must be a non-empty string or an integer, got ${describe(label)}`,
    );
  }
  return { format: 'classification', line, text, label: label as string | number };
}

function requireString(obj: Obj, key: string, at: (field?: string) => DataLocation, prefix?: string): string {
  const field = prefix === undefined ? key : `${prefix}.${key}`;
  const v = obj[key];
  if (v === undefined) throw new DataError('DATA_FIELD_MISSING', at(field), 'is missing');
  if (typeof v !== 'string') throw new DataError('DATA_FIELD_TYPE', at(field), `must be a string, got ${describe(v)}`);
  return v;
}

/** Absent and null both mean "not given" (datasets exported from tables write null for empty cells). */
function optionalString(obj: Obj, key: string, at: (field?: string) => DataLocation): string | undefined {
  const v = obj[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw new DataError('DATA_FIELD_TYPE', at(key), `must be a string, got ${describe(v)}`);
  return v;
}

function requireArray(obj: Obj, key: string, at: (field?: string) => DataLocation): unknown[] {
  const v = obj[key];
  if (v === undefined) throw new DataError('DATA_FIELD_MISSING', at(key), 'is missing');
  if (!Array.isArray(v)) throw new DataError('DATA_FIELD_TYPE', at(key), `must be an array, got ${describe(v)}`);
  return v;
}

function isObject(v: unknown): v is Obj {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** A short description of a bad value: its type and, for scalars, a clipped rendering. */
function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return `an array of ${v.length}`;
  if (typeof v === 'object') return 'an object';
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v)}`;
  if (typeof v === 'number') return `the number ${v}`;
  return `${typeof v} ${String(v)}`;
}

function keyList(obj: Obj): string {
  const keys = Object.keys(obj);
  if (keys.length === 0) return '(none)';
  const shown = keys.slice(0, 8).map((k) => JSON.stringify(k.length > 30 ? `${k.slice(0, 30)}…` : k));
  return shown.join(', ') + (keys.length > 8 ? `, … (${keys.length} keys)` : '');
}
