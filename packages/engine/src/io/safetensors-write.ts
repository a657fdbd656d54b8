import { open, rename, rm } from 'node:fs/promises';
import { numElements, type TensorData } from '../onnx/ir.js';
import { bytesOf, SAFETENSORS_DTYPES, type SafetensorsDType, safetensorsDTypeOf } from './dtypes.js';
import { SafetensorsError } from './errors.js';

export type TensorRecord = Readonly<Record<string, TensorData>> | ReadonlyMap<string, TensorData>;

export interface HeaderSpec {
  readonly name: string;
  readonly dtype: SafetensorsDType;
  readonly shape: readonly number[];
}

/**
 * The 8-byte length prefix plus JSON header for tensors laid out in the given order. The header is padded with
 * spaces (JSON whitespace, as the format allows) so the data section starts 8-byte aligned.
 */
export function encodeSafetensorsHeader(
  specs: readonly HeaderSpec[],
  metadata?: Readonly<Record<string, string>>,
): { bytes: Uint8Array; dataLength: number } {
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length > 0) {
    const sorted: Record<string, string> = {};
    for (const k of Object.keys(metadata).sort()) {
      const v = metadata[k];
      if (typeof v !== 'string') throw new SafetensorsError('bad-metadata', `metadata "${k}" must be a string`);
      sorted[k] = v;
    }
    header.__metadata__ = sorted;
  }
  let pos = 0;
  for (const s of specs) {
    if (s.name === '__metadata__') throw new SafetensorsError('bad-tensor', 'a tensor cannot be named "__metadata__"');
    const bytes = numElements(s.shape) * SAFETENSORS_DTYPES[s.dtype].size;
    header[s.name] = { dtype: s.dtype, shape: [...s.shape], data_offsets: [pos, pos + bytes] };
    pos += bytes;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.length / 8) * 8;
  const bytes = new Uint8Array(8 + padded).fill(0x20);
  new DataView(bytes.buffer).setBigUint64(0, BigInt(padded), true);
  bytes.set(json, 8);
  return { bytes, dataLength: pos };
}

function sortedEntries(tensors: TensorRecord): [string, TensorData][] {
  const entries: [string, TensorData][] =
    tensors instanceof Map
      ? [...(tensors as ReadonlyMap<string, TensorData>).entries()]
      : Object.entries(tensors as Record<string, TensorData>);
  entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const seen = new Set<string>();
  for (const [name, t] of entries) {
    if (seen.has(name)) throw new SafetensorsError('duplicate-tensor', `tensor "${name}" given twice`);
    seen.add(name);
    if (!t.dims.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw new SafetensorsError(
        'bad-tensor',
        `tensor "${name}": dims [${t.dims.join(', ')}] must be non-negative integers`,
      );
    }
    if (t.data.length !== numElements(t.dims)) {
      throw new SafetensorsError(
        'bad-tensor',
        `tensor "${name}": ${t.data.length} elements do not fill dims [${t.dims.join(', ')}]`,
      );
    }
    if (t.data.BYTES_PER_ELEMENT !== SAFETENSORS_DTYPES[safetensorsDTypeOf(t.dtype)].size) {
      throw new SafetensorsError('bad-tensor', `tensor "${name}": ${t.data.constructor.name} does not hold ${t.dtype}`);
    }
  }
  return entries;
}

function specsOf(entries: readonly [string, TensorData][]): HeaderSpec[] {
  return entries.map(([name, t]) => ({ name, dtype: safetensorsDTypeOf(t.dtype), shape: t.dims }));
}

/** The whole file in memory, deterministic: tensors sorted by name, metadata keys sorted. */
export function serializeSafetensors(tensors: TensorRecord, metadata?: Readonly<Record<string, string>>): Uint8Array {
  const entries = sortedEntries(tensors);
  const { bytes: header, dataLength } = encodeSafetensorsHeader(specsOf(entries), metadata);
  const out = new Uint8Array(header.length + dataLength);
  out.set(header);
  let pos = header.length;
  for (const [, t] of entries) {
    out.set(bytesOf(t.data), pos);
    pos += t.data.byteLength;
  }
  return out;
}

/**
 * Write a file tensor by tensor (never one buffer for the whole model), to a temporary name first so a crash
 * leaves no half-written file under the real name.
 */
export async function writeSafetensors(
  path: string,
  tensors: TensorRecord,
  metadata?: Readonly<Record<string, string>>,
): Promise<void> {
  const entries = sortedEntries(tensors);
  const { bytes: header } = encodeSafetensorsHeader(specsOf(entries), metadata);
  const tmp = `${path}.tmp-${process.pid}`;
  const fh = await open(tmp, 'w');
  try {
    await fh.write(header);
    for (const [, t] of entries) {
      const bytes = bytesOf(t.data);
      for (let done = 0; done < bytes.length; ) {
        const { bytesWritten } = await fh.write(bytes, done, Math.min(bytes.length - done, 1 << 30));
        done += bytesWritten;
      }
    }
    await fh.close();
    await rename(tmp, path);
  } catch (e) {
    await fh.close().catch(() => undefined);
    await rm(tmp, { force: true });
    throw e;
  }
}
