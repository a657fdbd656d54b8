// Readers that turn a data file into raw records (line + parsed value) or findings, never throwing for bad
// content: the validator decides what each problem means. JSONL streams line by line; CSV streams through
// csv-parse; a JSON array streams element by element through @streamparser/json.

import { isUtf8 } from 'node:buffer';
import { createReadStream } from 'node:fs';
import { open, readFile, stat } from 'node:fs/promises';
import { extname } from 'node:path';
import { JSONParser } from '@streamparser/json';
import { parse as parseCsv } from 'csv-parse';
import { DataError } from '../errors.js';
import type { Finding } from './report.js';

export type FileFormat = 'jsonl' | 'json' | 'csv' | 'parquet';
export const FILE_FORMATS: readonly FileFormat[] = ['jsonl', 'json', 'csv', 'parquet'];

/** A record as read: its 1-based line (or element/row) and value, or what made it unreadable. */
export type RawRecord =
  | { line: number; value: unknown; fromText?: boolean; finding?: undefined }
  | { line: number; finding: Finding; value?: undefined };

/** A JSON file that is not an array is parsed whole, to say what it holds; past this size it is refused. */
export const MAX_JSON_ARRAY_BYTES = 512 * 1024 * 1024;

const NEWLINE = 0x0a;

/** The first bytes of a file, to sniff its container. */
async function head(path: string, n = 512): Promise<Buffer> {
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.alloc(n);
    const { bytesRead } = await fh.read(buf, 0, n, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

/** What the content looks like: Parquet magic, a JSON array, JSON objects, or (anything else) CSV. */
function sniff(bytes: Buffer): FileFormat | undefined {
  if (bytes.length >= 4 && bytes.subarray(0, 4).toString('latin1') === 'PAR1') return 'parquet';
  let i = 0;
  if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) i = 3; // byte-order mark
  while (i < bytes.length && (bytes[i] === 0x20 || bytes[i] === 0x0a || bytes[i] === 0x0d || bytes[i] === 0x09)) i++;
  if (i >= bytes.length) return undefined;
  if (bytes[i] === 0x5b) return 'json';
  if (bytes[i] === 0x7b) return 'jsonl';
  return 'csv';
}

export interface DetectedFile {
  format: FileFormat;
  /** A file-level FORMAT_MISMATCH when the declared format contradicts the content. */
  mismatch?: Finding;
}

/**
 * The file's container: the declared one (checked against the content), else the extension, else the content.
 * A ".json" file whose content starts with an object is JSONL (a common misnaming), not a mismatch.
 */
export async function detectFileFormat(path: string, declared?: FileFormat, name = path): Promise<DetectedFile> {
  const sniffed = sniff(await head(path));
  const ext = extname(name).toLowerCase();
  const byExt: FileFormat | undefined =
    ext === '.jsonl' || ext === '.ndjson'
      ? 'jsonl'
      : ext === '.json'
        ? sniffed === 'jsonl'
          ? 'jsonl'
          : 'json'
        : ext === '.csv'
          ? 'csv'
          : ext === '.parquet'
            ? 'parquet'
            : undefined;
  const format = declared ?? byExt ?? sniffed ?? 'jsonl';
  if (sniffed === undefined || sniffed === format) return { format };
  // CSV is the fallback guess, so content that merely is not JSON says nothing about a declared CSV file.
  const contradicts = format === 'parquet' || sniffed === 'parquet' || sniffed !== 'csv';
  if (!contradicts) return { format };
  return {
    format,
    mismatch: {
      kind: 'FORMAT_MISMATCH',
      severity: 'error',
      line: 0,
      message: `the file is declared or named as ${format.toUpperCase()} but its content looks like ${sniffed.toUpperCase()}`,
    },
  };
}

/** Lines of a file as bytes (without the newline), 1-based, with each line's byte offset. */
export async function* iterateLines(path: string): AsyncGenerator<{ line: number; bytes: Buffer; offset: number }> {
  const stream = createReadStream(path, { highWaterMark: 1 << 20 });
  let pending: Buffer[] = [];
  let line = 0;
  let offset = 0;
  let lineStart = 0;
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      let start = 0;
      for (let nl = chunk.indexOf(NEWLINE, start); nl !== -1; nl = chunk.indexOf(NEWLINE, start)) {
        pending.push(chunk.subarray(start, nl));
        const bytes = pending.length === 1 ? (pending[0] as Buffer) : Buffer.concat(pending);
        pending = [];
        yield { line: ++line, bytes, offset: lineStart };
        lineStart = offset + nl + 1;
        start = nl + 1;
      }
      if (start < chunk.length) pending.push(chunk.subarray(start));
      offset += chunk.length;
    }
  } finally {
    stream.destroy();
  }
  if (pending.length > 0) yield { line: ++line, bytes: Buffer.concat(pending), offset: lineStart };
}

function notUtf8(line: number, offset: number): Finding {
  return {
    kind: 'NOT_UTF8',
    severity: 'error',
    line,
    message: `line ${line} (byte offset ${offset}) is not valid UTF-8; re-save the file as UTF-8`,
  };
}

function malformed(line: number, message: string, field?: string): Finding {
  return { kind: 'MALFORMED_RECORD', severity: 'error', line, message, ...(field !== undefined && { field }) };
}

const utf8 = new TextDecoder('utf-8');

/** One JSON value per line; blank lines are skipped but counted, so numbers match an editor's. */
export async function* readJsonl(path: string): AsyncGenerator<RawRecord> {
  for await (const { line, bytes, offset } of iterateLines(path)) {
    if (!isUtf8(bytes)) {
      yield { line, finding: notUtf8(line, offset) };
      continue;
    }
    let text = utf8.decode(bytes);
    if (line === 1 && text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    if (text.trim() === '') continue;
    try {
      yield { line, value: JSON.parse(text) };
    } catch (cause) {
      // Deeply nested input can overflow the parser's stack (RangeError); it is malformed all the same.
      yield {
        line,
        finding: malformed(line, `invalid JSON: ${cause instanceof Error ? cause.message : String(cause)}`),
      };
    }
  }
}

/** The first line that is not UTF-8, or undefined. Newline bytes never occur inside a multi-byte character. */
async function firstNonUtf8Line(path: string): Promise<Finding | undefined> {
  for await (const { line, bytes, offset } of iterateLines(path)) if (!isUtf8(bytes)) return notUtf8(line, offset);
  return undefined;
}

/**
 * A JSON array of records; element i (0-based) is reported as line i + 1. The array is parsed as it streams
 * (@streamparser/json, dropping each element once it is handed on), so memory stays flat however long the
 * array; invalid JSON ends the file with a finding after the elements before it.
 */
export async function* readJsonArray(path: string): AsyncGenerator<RawRecord> {
  const bad = await firstNonUtf8Line(path);
  if (bad !== undefined) {
    yield { line: bad.line, finding: bad };
    return;
  }
  if (!(await startsWithArray(path))) {
    yield* readWholeJson(path);
    return;
  }
  const parser = new JSONParser({ paths: ['$.*'], keepStack: false });
  let ready: RawRecord[] = [];
  let elements = 0;
  parser.onValue = ({ value, key }) => {
    elements++;
    ready.push({ line: (key as number) + 1, value });
  };
  const stream = createReadStream(path, { highWaterMark: 1 << 20 });
  let first = true;
  let failure: string | undefined;
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      let bytes: Uint8Array = chunk;
      if (first && chunk[0] === 0xef && chunk[1] === 0xbb && chunk[2] === 0xbf) bytes = chunk.subarray(3);
      first = false;
      try {
        parser.write(bytes);
      } catch (cause) {
        failure = cause instanceof Error ? cause.message : String(cause);
      }
      const out = ready;
      ready = [];
      yield* out;
      if (failure !== undefined) break;
    }
    if (failure === undefined && !parser.isEnded) {
      try {
        parser.end();
      } catch (cause) {
        failure = cause instanceof Error ? cause.message : String(cause);
      }
      yield* ready;
    }
  } finally {
    stream.destroy();
  }
  if (failure !== undefined) {
    yield { line: 0, finding: malformed(0, `invalid JSON after element ${elements}: ${failure}`) };
  }
}

/** Whether the first character of the file (after a byte-order mark and whitespace) opens an array. */
async function startsWithArray(path: string): Promise<boolean> {
  const stream = createReadStream(path, { highWaterMark: 64 * 1024 });
  let skippedBom = false;
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      let i = 0;
      if (!skippedBom && chunk[0] === 0xef && chunk[1] === 0xbb && chunk[2] === 0xbf) i = 3;
      skippedBom = true;
      while (i < chunk.length && (chunk[i] === 0x20 || chunk[i] === 0x0a || chunk[i] === 0x0d || chunk[i] === 0x09))
        i++;
      if (i < chunk.length) return chunk[i] === 0x5b;
    }
    return false;
  } finally {
    stream.destroy();
  }
}

/** Content that is not an array (a declared JSON file holding one object, a number...): what it is, said whole. */
async function* readWholeJson(path: string): AsyncGenerator<RawRecord> {
  const { size } = await stat(path);
  if (size > MAX_JSON_ARRAY_BYTES) {
    throw new DataError(
      'DATA_IO',
      { file: path },
      `a JSON file must hold one array of records, and this one (${size} bytes) does not start with one; convert it to JSONL`,
    );
  }
  let text = utf8.decode(await readFile(path));
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  try {
    JSON.parse(text);
  } catch (cause) {
    yield { line: 0, finding: malformed(0, `invalid JSON: ${cause instanceof Error ? cause.message : String(cause)}`) };
    return;
  }
  yield {
    line: 0,
    finding: {
      kind: 'FORMAT_MISMATCH',
      severity: 'error',
      line: 0,
      message: 'a JSON file must hold one array of records (or be JSONL: one object per line)',
    },
  };
}

/**
 * CSV with a header row. Cells are strings (`fromText`), so the validator parses nested fields (chat messages,
 * token ids) from JSON text. A malformed record (unclosed quote, wrong column count) is reported with its line
 * and reading goes on with the next record.
 */
export async function* readCsv(path: string): AsyncGenerator<RawRecord> {
  const bad = await firstNonUtf8Line(path);
  if (bad !== undefined) {
    yield { line: bad.line, finding: bad };
    return;
  }
  const skipped: Finding[] = [];
  const parser = createReadStream(path, { highWaterMark: 1 << 20 }).pipe(
    parseCsv({
      bom: true,
      columns: (header: string[]) => header.map((h) => h.trim()),
      info: true,
      skip_empty_lines: true,
      skip_records_with_error: true,
      on_skip: (err) => {
        if (err !== undefined) {
          const line = (err as { lines?: number }).lines ?? 0;
          skipped.push(malformed(line, `malformed CSV record: ${err.message}`));
        }
      },
    }),
  );
  try {
    for await (const item of parser as AsyncIterable<{ record: Record<string, string>; info: { lines: number } }>) {
      while (skipped.length > 0) {
        const f = skipped.shift() as Finding;
        yield { line: f.line, finding: f };
      }
      yield { line: item.info.lines, value: item.record, fromText: true };
    }
  } catch (cause) {
    // Errors that csv-parse does not skip (e.g. a bad header row) end the file, with the line when known.
    const line = (cause as { lines?: number }).lines ?? 0;
    yield {
      line,
      finding: malformed(line, `malformed CSV: ${cause instanceof Error ? cause.message : String(cause)}`),
    };
  } finally {
    parser.destroy();
  }
  for (const f of skipped) yield { line: f.line, finding: f };
}
