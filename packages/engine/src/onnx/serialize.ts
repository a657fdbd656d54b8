// Graph -> ONNX ModelProto bytes. Deterministic: the same graph gives the same bytes (attributes sorted by name,
// opset imports sorted by domain, no timestamps or producer versions), so byte snapshots and cache keys work.
// Initialisers are written as raw little-endian bytes (float16/bfloat16 as their bit patterns); when the model
// would be too large for one protobuf (2 GB), they go to ONNX external data instead.

import { createHash } from 'node:crypto';
import onnxProto from 'onnx-proto';
import { EngineError } from '../errors.js';
import { ONNX_DTYPE } from './dtypes.js';
import { type Attr, type Dim, type Graph, IR_VERSION, MS_DOMAIN, type TensorData, type Value } from './ir.js';

const { onnx } = onnxProto;

export class SerializeError extends EngineError {
  override readonly name = 'SerializeError';
}

export interface SerializeOptions {
  /**
   * Initialisers go to external data when their total size exceeds this many bytes (default 1.8e9, below
   * protobuf's 2 GB limit). 0 forces external data for every initialiser of at least `externalMinBytes`.
   */
  externalDataThresholdBytes?: number;
  /** Base name of the external data file(s), relative to the model (default 'weights.bin'). */
  externalDataFile?: string;
  /** Initialisers smaller than this stay inline even in external mode (default 1024 bytes). */
  externalMinBytes?: number;
  /** Split external data into files of at most this many bytes (default 1 GiB; one tensor is never split). */
  externalMaxFileBytes?: number;
}

export interface SerializedModel {
  model: Uint8Array;
  /** External data files, `path` relative to the model file; empty when everything is inline. */
  externalData: { path: string; data: Uint8Array }[];
}

export const DEFAULT_EXTERNAL_THRESHOLD = 1.8e9;
/** Large tensors start on a page boundary so onnxruntime can map them; small ones on 16 bytes. */
const PAGE = 4096;
const SMALL_ALIGN = 16;
const PAGE_ALIGN_FROM = 1 << 20;

/** The tensor's bytes as a view (no copy); the machine is little-endian, as ONNX raw_data is. */
export function tensorBytes(t: TensorData): Uint8Array {
  return new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
}

function typeProto(v: Value): onnxProto.onnx.ITypeProto {
  const tensorType: onnxProto.onnx.TypeProto.ITensor = { elemType: ONNX_DTYPE[v.dtype] };
  if (v.shape !== undefined) {
    tensorType.shape = {
      dim: v.shape.map((d: Dim) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })),
    };
  }
  return { tensorType };
}

function tensorProto(name: string, t: TensorData): onnxProto.onnx.ITensorProto {
  return { name, dims: [...t.dims], dataType: ONNX_DTYPE[t.dtype], rawData: tensorBytes(t) };
}

function attributeProto(name: string, a: Attr): onnxProto.onnx.IAttributeProto {
  const T = onnx.AttributeProto.AttributeType;
  switch (a.type) {
    case 'int':
      return { name, type: T.INT, i: a.value };
    case 'float':
      return { name, type: T.FLOAT, f: a.value };
    case 'ints':
      return { name, type: T.INTS, ints: [...a.value] };
    case 'floats':
      return { name, type: T.FLOATS, floats: [...a.value] };
    case 'string':
      return { name, type: T.STRING, s: Buffer.from(a.value, 'utf8') };
    case 'strings':
      return { name, type: T.STRINGS, strings: a.value.map((s) => Buffer.from(s, 'utf8')) };
    case 'tensor':
      return { name, type: T.TENSOR, t: tensorProto('', a.value) };
  }
}

function align(n: number, to: number): number {
  return Math.ceil(n / to) * to;
}

export function serializeModel(graph: Graph, opts: SerializeOptions = {}): SerializedModel {
  const threshold = opts.externalDataThresholdBytes ?? DEFAULT_EXTERNAL_THRESHOLD;
  const fileBase = opts.externalDataFile ?? 'weights.bin';
  const minBytes = opts.externalMinBytes ?? 1024;
  const maxFile = opts.externalMaxFileBytes ?? 2 ** 30;
  if (/[\\/]/.test(fileBase) || fileBase === '' || fileBase.startsWith('.')) {
    throw new SerializeError('BAD_EXTERNAL_FILE', `externalDataFile '${fileBase}' must be a plain file name`);
  }

  let total = 0;
  for (const init of graph.initializers) total += init.tensor.data.byteLength;
  const external = total > threshold;

  // Plan the external layout first so each file is allocated once at its final size.
  interface Placement {
    file: number;
    offset: number;
  }
  const placements = new Map<string, Placement>();
  const fileSizes: number[] = [];
  if (external) {
    for (const init of graph.initializers) {
      const n = init.tensor.data.byteLength;
      if (n < minBytes) continue;
      const a = n >= PAGE_ALIGN_FROM ? PAGE : SMALL_ALIGN;
      let f = fileSizes.length - 1;
      let off = f >= 0 ? align(fileSizes[f] as number, a) : 0;
      if (f < 0 || (off + n > maxFile && (fileSizes[f] as number) > 0)) {
        fileSizes.push(0);
        f++;
        off = 0;
      }
      placements.set(init.name, { file: f, offset: off });
      fileSizes[f] = off + n;
    }
  }
  const fileName = (i: number): string =>
    i === 0 ? fileBase : fileBase.replace(/(\.[^.]*)?$/, (ext) => `.${i}${ext}`);
  const files = fileSizes.map((size, i) => ({ path: fileName(i), data: new Uint8Array(size) }));

  const initializer: onnxProto.onnx.ITensorProto[] = graph.initializers.map((init) => {
    const p = placements.get(init.name);
    if (p === undefined) return tensorProto(init.name, init.tensor);
    const bytes = tensorBytes(init.tensor);
    (files[p.file] as { data: Uint8Array }).data.set(bytes, p.offset);
    return {
      name: init.name,
      dims: [...init.tensor.dims],
      dataType: ONNX_DTYPE[init.tensor.dtype],
      dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
      externalData: [
        { key: 'location', value: fileName(p.file) },
        { key: 'offset', value: String(p.offset) },
        { key: 'length', value: String(bytes.byteLength) },
      ],
    };
  });

  // com.microsoft is always declared (onnxruntime ignores an unused import), so the header does not depend on
  // which ops a graph happens to use.
  const opsetImport: onnxProto.onnx.IOperatorSetIdProto[] = [
    { domain: MS_DOMAIN, version: 1 },
    { domain: '', version: graph.opset },
  ];
  opsetImport.sort((a, b) => ((a.domain ?? '') < (b.domain ?? '') ? -1 : 1));

  const model: onnxProto.onnx.IModelProto = {
    irVersion: IR_VERSION,
    producerName: 'tunemesh',
    opsetImport,
    graph: {
      name: graph.name,
      input: graph.inputs.map((v) => ({ name: v.name, type: typeProto(v) })),
      output: graph.outputs.map((v) => ({ name: v.name, type: typeProto(v) })),
      initializer,
      node: graph.nodes.map((n) => ({
        name: n.name,
        opType: n.opType,
        domain: n.domain,
        input: [...n.inputs],
        output: [...n.outputs],
        attribute: Object.keys(n.attrs)
          .sort()
          .map((k) => attributeProto(k, n.attrs[k] as Attr)),
      })),
    },
  };
  const bytes = onnx.ModelProto.encode(model).finish();
  if (bytes.byteLength >= 2 ** 31) {
    throw new SerializeError(
      'MODEL_TOO_LARGE',
      `model '${graph.name}' is ${bytes.byteLength} bytes inline; lower externalDataThresholdBytes to move weights out`,
    );
  }
  return { model: bytes, externalData: files };
}

// Graphs are immutable once built, so a hash computed once per object stays valid.
const hashCache = new WeakMap<Graph, string>();

/**
 * A stable content hash (sha256 hex) over a graph's structure and tensor bytes: the session cache key. Tensor
 * bytes are fed to the hash as views, never copied.
 */
export function graphHash(graph: Graph): string {
  const hit = hashCache.get(graph);
  if (hit !== undefined) return hit;
  const h = createHash('sha256');
  const tensors: TensorData[] = [];
  const attrJson = (a: Attr): unknown => {
    if (a.type !== 'tensor') return a;
    tensors.push(a.value);
    return { type: 'tensor', dtype: a.value.dtype, dims: a.value.dims };
  };
  const structure = {
    name: graph.name,
    opset: graph.opset,
    inputs: graph.inputs.map((v) => [v.name, v.dtype, v.shape ?? null]),
    outputs: graph.outputs.map((v) => [v.name, v.dtype, v.shape ?? null]),
    nodes: graph.nodes.map((n) => [
      n.name,
      n.domain,
      n.opType,
      n.inputs,
      n.outputs,
      Object.keys(n.attrs)
        .sort()
        .map((k) => [k, attrJson(n.attrs[k] as Attr)]),
    ]),
    initializers: graph.initializers.map((i) => [
      i.name,
      i.tensor.dtype,
      i.tensor.dims,
      i.trainable,
      i.tensor.data.byteLength,
    ]),
  };
  h.update(JSON.stringify(structure));
  for (const init of graph.initializers) h.update(tensorBytes(init.tensor));
  for (const t of tensors) h.update(tensorBytes(t));
  const digest = h.digest('hex');
  hashCache.set(graph, digest);
  return digest;
}

/**
 * Writes `graph` as an ONNX model file plus its external data files beside it (for export and for loading by
 * path). Returns the paths written.
 */
export async function saveModel(graph: Graph, modelPath: string, opts: SerializeOptions = {}): Promise<string[]> {
  const { writeFile } = await import('node:fs/promises');
  const { dirname, join } = await import('node:path');
  const ser = serializeModel(graph, opts);
  const written = [modelPath];
  await writeFile(modelPath, ser.model);
  for (const f of ser.externalData) {
    const p = join(dirname(modelPath), f.path);
    await writeFile(p, f.data);
    written.push(p);
  }
  return written;
}
