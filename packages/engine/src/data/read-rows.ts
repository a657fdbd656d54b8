import { createReadStream } from 'node:fs';
import { DataError } from './errors.js';
import { type DataFormat, type DataRow, detectFormat, parseDataRow, type RowParseOptions } from './rows.js';

export interface ReadRowsOptions {
  /** The file's format; when absent, the first non-blank line decides and every later line must match. */
  format?: DataFormat;
  /** When given, pre-tokenised ids must lie in [0, vocabSize). */
  vocabSize?: number;
  /** Name for messages when reading from memory (default "<input>"); files use their path. */
  name?: string;
}

const NEWLINE = 0x0a;
const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Turns JSONL lines into rows, one line at a time, so a file of any size streams in constant memory (beyond
 * the longest line). Blank lines are skipped but still counted, so line numbers match an editor's.
 */
class JsonlRowParser {
  private format: DataFormat | undefined;
  private readonly opts: RowParseOptions;
  rows = 0;

  constructor(file: string, options: ReadRowsOptions) {
    this.format = options.format;
    this.opts = { file, vocabSize: options.vocabSize };
  }

  parseBytes(bytes: Uint8Array, line: number): DataRow | undefined {
    let text: string;
    try {
      text = utf8.decode(bytes);
    } catch (cause) {
      throw new DataError('DATA_ENCODING', { file: this.opts.file, line }, 'line is not valid UTF-8', { cause });
    }
    return this.parseText(text, line);
  }

  parseText(raw: string, line: number): DataRow | undefined {
    let text = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line === 1 && text.charCodeAt(0) === 0xfeff) text = text.slice(1); // byte-order mark
    if (text.trim() === '') return undefined;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (cause) {
      // Deeply nested input can overflow the parser's stack (RangeError); it is malformed data all the same.
      const why = cause instanceof Error ? cause.message : String(cause);
      throw new DataError('DATA_JSON', { file: this.opts.file, line }, `invalid JSON: ${why}`, { cause });
    }
    if (this.format === undefined) {
      // Let parseDataRow produce its "no known format" message for the first row when nothing matches.
      this.format = detectFormat(value);
    }
    const row = parseDataRow(value, line, { ...this.opts, format: this.format });
    this.rows++;
    return row;
  }

  finish(): void {
    if (this.rows === 0)
      throw new DataError('DATA_EMPTY', { file: this.opts.file }, 'no data rows (the file is empty or blank)');
  }
}

/** Streams the rows of a JSONL file. Errors name the file and 1-based line. */
export async function* iterateDataRows(file: string, options: ReadRowsOptions = {}): AsyncGenerator<DataRow> {
  const parser = new JsonlRowParser(file, options);
  const stream = createReadStream(file);
  let pending: Buffer[] = [];
  let line = 0;
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      let start = 0;
      for (let nl = chunk.indexOf(NEWLINE, start); nl !== -1; nl = chunk.indexOf(NEWLINE, start)) {
        pending.push(chunk.subarray(start, nl));
        const row = parser.parseBytes(Buffer.concat(pending), ++line);
        pending = [];
        if (row !== undefined) yield row;
        start = nl + 1;
      }
      if (start < chunk.length) pending.push(chunk.subarray(start));
    }
  } catch (cause) {
    if (cause instanceof DataError) throw cause;
    throw new DataError('DATA_IO', { file }, `cannot read: ${cause instanceof Error ? cause.message : String(cause)}`, {
      cause,
    });
  } finally {
    stream.destroy();
  }
  if (pending.length > 0) {
    const row = parser.parseBytes(Buffer.concat(pending), ++line);
    if (row !== undefined) yield row;
  }
  parser.finish();
}

/** Reads every row of a JSONL file (see iterateDataRows). */
export async function readDataRows(file: string, options: ReadRowsOptions = {}): Promise<DataRow[]> {
  const rows: DataRow[] = [];
  for await (const row of iterateDataRows(file, options)) rows.push(row);
  return rows;
}

/** Parses JSONL content already in memory (an upload, a test), with the same checks as a file. */
export function parseDataRows(content: string | Uint8Array, options: ReadRowsOptions = {}): DataRow[] {
  const parser = new JsonlRowParser(options.name ?? '<input>', options);
  const rows: DataRow[] = [];
  if (typeof content === 'string') {
    content.split('\n').forEach((text, i) => {
      const row = parser.parseText(text, i + 1);
      if (row !== undefined) rows.push(row);
    });
  } else {
    let start = 0;
    let line = 0;
    while (start <= content.length) {
      let nl = content.indexOf(NEWLINE, start);
      if (nl === -1) nl = content.length;
      const row = parser.parseBytes(content.subarray(start, nl), ++line);
      if (row !== undefined) rows.push(row);
      start = nl + 1;
    }
  }
  parser.finish();
  return rows;
}
