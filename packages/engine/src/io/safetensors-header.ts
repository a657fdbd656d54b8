import {
  isSafetensorsDType,
  SAFETENSORS_DTYPES,
  type SafetensorsDType,
  UNSUPPORTED_SAFETENSORS_DTYPES,
} from './dtypes.js';
import { SafetensorsError } from './errors.js';

/** One tensor as the header describes it; offsets are absolute within the data section. */
export interface SafetensorsEntry {
  readonly name: string;
  readonly dtype: SafetensorsDType;
  readonly shape: readonly number[];
  readonly begin: number;
  readonly end: number;
}

export interface SafetensorsHeader {
  /** Tensors in file order (ascending offsets). */
  readonly tensors: readonly SafetensorsEntry[];
  readonly metadata: Readonly<Record<string, string>>;
  /** Bytes before the data section: 8 + header length. */
  readonly dataStart: number;
  readonly dataLength: number;
}

/** Real headers are kilobytes to a few megabytes; anything larger is corrupt or hostile and would be read into memory. */
export const MAX_HEADER_BYTES = 100 * 1024 * 1024;

/** Validate the 8-byte prefix and return the header length. `fileSize` is the whole file's length. */
export function headerLength(prefix: Uint8Array, fileSize: number, file: string): number {
  if (fileSize < 8 || prefix.length < 8) {
    throw new SafetensorsError(
      'truncated',
      `${file}: file is ${fileSize} bytes, too short for the 8-byte header length`,
    );
  }
  const n = new DataView(prefix.buffer, prefix.byteOffset, 8).getBigUint64(0, true);
  if (n > BigInt(MAX_HEADER_BYTES)) {
    throw new SafetensorsError(
      'header-too-large',
      `${file}: header length ${n} exceeds the ${MAX_HEADER_BYTES}-byte limit`,
    );
  }
  const len = Number(n);
  if (8 + len > fileSize) {
    throw new SafetensorsError(
      'header-out-of-bounds',
      `${file}: header length ${len} runs past the end of the ${fileSize}-byte file`,
    );
  }
  if (len < 2) throw new SafetensorsError('header-json', `${file}: header of ${len} bytes cannot hold a JSON object`);
  return len;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/** Parse and fully validate a header: every later read can trust offsets, shapes and sizes. */
export function parseHeader(headerBytes: Uint8Array, fileSize: number, file: string): SafetensorsHeader {
  const dataStart = 8 + headerBytes.length;
  const dataLength = fileSize - dataStart;
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(headerBytes);
  } catch (cause) {
    throw new SafetensorsError('header-utf8', `${file}: header is not valid UTF-8`, { cause });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (cause) {
    throw new SafetensorsError('header-json', `${file}: header is not valid JSON (${(cause as Error).message})`, {
      cause,
    });
  }
  if (!isPlainObject(json)) throw new SafetensorsError('header-not-object', `${file}: header must be a JSON object`);

  let metadata: Record<string, string> = {};
  const tensors: SafetensorsEntry[] = [];
  for (const [name, raw] of Object.entries(json)) {
    if (name === '__metadata__') {
      metadata = parseMetadata(raw, file);
      continue;
    }
    tensors.push(parseEntry(name, raw, dataLength, file));
  }
  tensors.sort((a, b) => a.begin - b.begin || a.end - b.end);
  // The format requires the tensors to tile the data section exactly: no holes, no overlap, nothing after.
  let pos = 0;
  for (const t of tensors) {
    if (t.begin < pos) {
      throw new SafetensorsError(
        'overlapping-offsets',
        `${file}: tensor "${t.name}" starts at ${t.begin}, inside the previous tensor (which ends at ${pos})`,
      );
    }
    if (t.begin > pos) {
      throw new SafetensorsError(
        'gap-in-offsets',
        `${file}: tensor "${t.name}" starts at ${t.begin}, leaving a hole after byte ${pos}`,
      );
    }
    pos = t.end;
  }
  if (pos !== dataLength) {
    throw new SafetensorsError(
      'trailing-bytes',
      `${file}: tensors cover ${pos} bytes but the data section is ${dataLength} bytes`,
    );
  }
  return { tensors, metadata, dataStart, dataLength };
}

function parseMetadata(raw: unknown, file: string): Record<string, string> {
  if (!isPlainObject(raw))
    throw new SafetensorsError('bad-metadata', `${file}: "__metadata__" must be an object of strings`);
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(raw)) {
    if (typeof v !== 'string')
      throw new SafetensorsError('bad-metadata', `${file}: "__metadata__"."${k}" must be a string, got ${typeof v}`);
    out[k] = v;
  }
  return out;
}

function parseEntry(name: string, raw: unknown, dataLength: number, file: string): SafetensorsEntry {
  const where = `${file}: tensor "${name}"`;
  if (!isPlainObject(raw))
    throw new SafetensorsError('bad-entry', `${where}: entry must be an object with dtype, shape and data_offsets`);
  const { dtype, shape, data_offsets: offsets } = raw;
  if (typeof dtype !== 'string') throw new SafetensorsError('bad-entry', `${where}: "dtype" must be a string`);
  if (!isSafetensorsDType(dtype)) {
    if (UNSUPPORTED_SAFETENSORS_DTYPES.includes(dtype)) {
      throw new SafetensorsError(
        'unsupported-dtype',
        `${where}: dtype ${dtype} is not supported (supported: ${Object.keys(SAFETENSORS_DTYPES).join(', ')})`,
      );
    }
    throw new SafetensorsError('unknown-dtype', `${where}: unknown dtype ${JSON.stringify(dtype).slice(0, 40)}`);
  }
  if (!Array.isArray(shape) || !shape.every(isCount)) {
    throw new SafetensorsError('bad-shape', `${where}: "shape" must be a list of non-negative integers`);
  }
  if (!Array.isArray(offsets) || offsets.length !== 2 || !isCount(offsets[0]) || !isCount(offsets[1])) {
    throw new SafetensorsError('bad-offsets', `${where}: "data_offsets" must be [begin, end] non-negative integers`);
  }
  const [begin, end] = offsets as [number, number];
  if (begin > end)
    throw new SafetensorsError('bad-offsets', `${where}: data_offsets [${begin}, ${end}] end before they begin`);
  if (end > dataLength) {
    throw new SafetensorsError(
      'offsets-out-of-bounds',
      `${where}: data_offsets [${begin}, ${end}] run past the ${dataLength}-byte data section`,
    );
  }
  // Count elements in floating point but compare against the byte span, which is already bounded by the file
  // size: a shape claiming 2^60 elements fails here, before anything is allocated.
  const size = SAFETENSORS_DTYPES[dtype].size;
  let elements = 1;
  for (const d of shape as number[]) elements *= d;
  if (elements * size !== end - begin) {
    throw new SafetensorsError(
      'size-mismatch',
      `${where}: shape [${(shape as number[]).join(', ')}] of ${dtype} needs ${elements * size} bytes but data_offsets span ${end - begin}`,
    );
  }
  return { name, dtype, shape: shape as number[], begin, end };
}
