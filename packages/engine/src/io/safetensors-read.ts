import { type FileHandle, open } from 'node:fs/promises';
import type { TensorData } from '../onnx/ir.js';
import { decodeInto, isVerbatim, type LoadDType, loadedDType } from './convert.js';
import { allocate, bytesOf, SAFETENSORS_DTYPES } from './dtypes.js';
import { SafetensorsError } from './errors.js';
import { headerLength, parseHeader, type SafetensorsEntry, type SafetensorsHeader } from './safetensors-header.js';

export interface LoadOptions {
  /** Dtype floating-point tensors are loaded as; 'keep' leaves them as stored. Default 'float32'. */
  readonly dtype?: LoadDType;
  /** Load only the tensors this returns true for. */
  readonly filter?: (name: string) => boolean;
  /** Called after each tensor is in memory; the loader's memory test samples process memory here. */
  readonly onTensor?: (name: string, tensor: TensorData) => void;
}

export interface SafetensorsContents {
  readonly tensors: Map<string, TensorData>;
  readonly metadata: Readonly<Record<string, string>>;
}

/** Conversion chunk: bounds the scratch memory regardless of tensor size. A multiple of 8 keeps views aligned. */
const CHUNK_BYTES = 8 * 1024 * 1024;

/** Parse a whole safetensors file held in memory (small files, tests, the fuzz suite). Tensors are copies. */
export function parseSafetensors(
  buffer: Uint8Array,
  opts: LoadOptions & { readonly file?: string } = {},
): SafetensorsContents {
  const file = opts.file ?? '<buffer>';
  const len = headerLength(buffer, buffer.length, file);
  const header = parseHeader(buffer.subarray(8, 8 + len), buffer.length, file);
  const tensors = new Map<string, TensorData>();
  let scratch: Uint8Array | undefined;
  for (const entry of header.tensors) {
    if (opts.filter && !opts.filter(entry.name)) continue;
    const plan = planTensor(entry, opts.dtype ?? 'float32');
    const src = (pos: number, n: number) => buffer.subarray(header.dataStart + pos, header.dataStart + pos + n);
    if (plan.verbatim) bytesOf(plan.tensor.data).set(src(entry.begin, entry.end - entry.begin));
    else {
      scratch = scratchFor(scratch, plan);
      for (const c of chunks(plan)) {
        // Copy into the aligned scratch first: the buffer's tensor offsets need not be element-aligned.
        scratch.set(src(c.pos, c.bytes));
        decodeInto(entry.dtype, scratch, c.count, plan.tensor.data, plan.tensor.dtype, c.at);
      }
    }
    tensors.set(entry.name, plan.tensor);
    opts.onTensor?.(entry.name, plan.tensor);
  }
  return { tensors, metadata: header.metadata };
}

/** Read and validate only the header of a file: names, dtypes, shapes, metadata. */
export async function readSafetensorsHeader(path: string): Promise<SafetensorsHeader> {
  const fh = await openFile(path);
  try {
    return await readHeader(fh, path);
  } finally {
    await fh.close();
  }
}

/** Read one file with positioned reads: memory holds the loaded tensors plus one conversion chunk. */
export async function readSafetensors(path: string, opts: LoadOptions = {}): Promise<SafetensorsContents> {
  const fh = await openFile(path);
  try {
    const header = await readHeader(fh, path);
    const tensors = new Map<string, TensorData>();
    let scratch: Uint8Array | undefined;
    for (const entry of header.tensors) {
      if (opts.filter && !opts.filter(entry.name)) continue;
      const plan = planTensor(entry, opts.dtype ?? 'float32');
      if (plan.verbatim) await readFully(fh, bytesOf(plan.tensor.data), header.dataStart + entry.begin, path);
      else {
        scratch = scratchFor(scratch, plan);
        for (const c of chunks(plan)) {
          await readFully(fh, scratch.subarray(0, c.bytes), header.dataStart + c.pos, path);
          decodeInto(entry.dtype, scratch, c.count, plan.tensor.data, plan.tensor.dtype, c.at);
        }
      }
      tensors.set(entry.name, plan.tensor);
      opts.onTensor?.(entry.name, plan.tensor);
    }
    return { tensors, metadata: header.metadata };
  } finally {
    await fh.close();
  }
}

/**
 * Load one file or several (shards) into one map. Floating-point tensors become `opts.dtype` (float32 by
 * default) tensor by tensor; a name present in two files is an error.
 */
export async function loadSafetensors(
  pathOrPaths: string | readonly string[],
  opts: LoadOptions = {},
): Promise<Map<string, TensorData>> {
  const paths = typeof pathOrPaths === 'string' ? [pathOrPaths] : pathOrPaths;
  const out = new Map<string, TensorData>();
  const seenIn = new Map<string, string>();
  for (const path of paths) {
    const { tensors } = await readSafetensors(path, opts);
    for (const [name, t] of tensors) {
      const prev = seenIn.get(name);
      if (prev !== undefined)
        throw new SafetensorsError('duplicate-tensor', `${path}: tensor "${name}" also appears in ${prev}`);
      seenIn.set(name, path);
      out.set(name, t);
    }
  }
  return out;
}

async function openFile(path: string): Promise<FileHandle> {
  try {
    return await open(path, 'r');
  } catch (cause) {
    throw new SafetensorsError(
      'not-found',
      `${path}: cannot open safetensors file (${(cause as NodeJS.ErrnoException).code ?? 'error'})`,
      { cause },
    );
  }
}

async function readHeader(fh: FileHandle, path: string): Promise<SafetensorsHeader> {
  const { size } = await fh.stat();
  const prefix = new Uint8Array(8);
  if (size >= 8) await readFully(fh, prefix, 0, path);
  const len = headerLength(prefix, size, path);
  const headerBytes = new Uint8Array(len);
  await readFully(fh, headerBytes, 8, path);
  return parseHeader(headerBytes, size, path);
}

async function readFully(fh: FileHandle, dst: Uint8Array, position: number, path: string): Promise<void> {
  let done = 0;
  while (done < dst.length) {
    // One read is capped below 2 GiB by Node; larger tensors take several.
    const n = Math.min(dst.length - done, 1 << 30);
    const { bytesRead } = await fh.read(dst, done, n, position + done);
    if (bytesRead === 0)
      throw new SafetensorsError(
        'truncated',
        `${path}: file ended at byte ${position + done} while reading tensor data`,
      );
    done += bytesRead;
  }
}

interface TensorPlan {
  readonly entry: SafetensorsEntry;
  readonly tensor: TensorData;
  /** Stored bytes are the loaded representation: read straight into the tensor, no scratch. */
  readonly verbatim: boolean;
  readonly elementSize: number;
  readonly count: number;
}

function planTensor(entry: SafetensorsEntry, mode: LoadDType): TensorPlan {
  const dtype = loadedDType(entry.dtype, mode);
  const elementSize = SAFETENSORS_DTYPES[entry.dtype].size;
  const count = (entry.end - entry.begin) / elementSize;
  const tensor: TensorData = { dtype, dims: [...entry.shape], data: allocate(dtype, count) };
  return { entry, tensor, verbatim: isVerbatim(entry.dtype, dtype), elementSize, count };
}

/** The conversion buffer: one chunk, or less for small tensors; reused across tensors. Multiple of 8 for aligned views. */
function scratchFor(current: Uint8Array | undefined, plan: TensorPlan): Uint8Array {
  const want = Math.min(CHUNK_BYTES, Math.ceil((plan.count * plan.elementSize) / 8) * 8);
  return current && current.length >= want ? current : new Uint8Array(want);
}

interface Chunk {
  /** Element index in the tensor. */
  readonly at: number;
  readonly count: number;
  /** Byte position in the data section, and byte length. */
  readonly pos: number;
  readonly bytes: number;
}

function* chunks(plan: TensorPlan): Generator<Chunk> {
  const perChunk = Math.floor(CHUNK_BYTES / plan.elementSize);
  for (let at = 0; at < plan.count; at += perChunk) {
    const count = Math.min(perChunk, plan.count - at);
    yield { at, count, pos: plan.entry.begin + at * plan.elementSize, bytes: count * plan.elementSize };
  }
}
