// The in-memory graph that every engine component shares: model builders write it, the autodiff extends it,
// the serialiser turns it into an ONNX ModelProto. It is deliberately plain data so that it can be hashed,
// snapshotted and walked without a protobuf runtime.

/** Element types the engine uses. Names follow ONNX TensorProto.DataType. */
export type DType = 'float32' | 'float16' | 'bfloat16' | 'float64' | 'int64' | 'int32' | 'int8' | 'uint8' | 'bool';

/** A dimension: a fixed size, or a symbolic name (e.g. 'batch', 'seq') shared by every value that has it. */
export type Dim = number | string;

/** A named tensor flowing through the graph. `shape` is undefined when the builder does not know it. */
export interface Value {
  readonly name: string;
  readonly dtype: DType;
  readonly shape: readonly Dim[] | undefined;
}

/** Raw tensor contents for initialisers and tensor attributes. */
export type TensorArray =
  | Float32Array
  | Float64Array
  | Uint16Array // float16 and bfloat16 bit patterns
  | BigInt64Array
  | Int32Array
  | Int8Array
  | Uint8Array; // uint8 and bool

export interface TensorData {
  readonly dtype: DType;
  readonly dims: readonly number[];
  readonly data: TensorArray;
}

/** Attribute values, tagged because ONNX distinguishes INT from FLOAT. */
export type Attr =
  | { readonly type: 'int'; readonly value: number }
  | { readonly type: 'float'; readonly value: number }
  | { readonly type: 'ints'; readonly value: readonly number[] }
  | { readonly type: 'floats'; readonly value: readonly number[] }
  | { readonly type: 'string'; readonly value: string }
  | { readonly type: 'strings'; readonly value: readonly string[] }
  | { readonly type: 'tensor'; readonly value: TensorData };

export const attr = {
  int: (value: number): Attr => ({ type: 'int', value }),
  float: (value: number): Attr => ({ type: 'float', value }),
  ints: (value: readonly number[]): Attr => ({ type: 'ints', value }),
  floats: (value: readonly number[]): Attr => ({ type: 'floats', value }),
  string: (value: string): Attr => ({ type: 'string', value }),
  strings: (value: readonly string[]): Attr => ({ type: 'strings', value }),
  tensor: (value: TensorData): Attr => ({ type: 'tensor', value }),
};

/** The empty string marks an omitted optional input, as in ONNX. */
export const ABSENT = '';

export interface Node {
  readonly name: string;
  readonly opType: string;
  /** '' is the default ONNX domain; 'com.microsoft' for onnxruntime contrib ops. */
  readonly domain: string;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  readonly attrs: Readonly<Record<string, Attr>>;
}

/**
 * An initialiser: a constant tensor stored with the model. `external` initialisers are written to a side file
 * (ONNX external data) so models over 2 GB can be loaded; `trainable` marks tensors the autodiff differentiates
 * and training feeds as inputs instead of baking them in.
 */
export interface Initializer {
  readonly name: string;
  readonly tensor: TensorData;
  readonly trainable: boolean;
}

export interface Graph {
  readonly name: string;
  /** Default-domain opset; the builder emits ops valid at this version. */
  readonly opset: number;
  readonly inputs: readonly Value[];
  readonly outputs: readonly Value[];
  readonly nodes: readonly Node[];
  readonly initializers: readonly Initializer[];
  /** Every value whose dtype/shape the builder knows, by name (inputs, outputs, intermediates). */
  readonly values: ReadonlyMap<string, Value>;
}

/** ONNX IR version written into every model. 10 goes with opset 21–22; onnxruntime 1.30 reads it. */
export const IR_VERSION = 10;
export const DEFAULT_OPSET = 21;
export const MS_DOMAIN = 'com.microsoft';

export function bytesPerElement(dtype: DType): number {
  switch (dtype) {
    case 'float64':
    case 'int64':
      return 8;
    case 'float32':
    case 'int32':
      return 4;
    case 'float16':
    case 'bfloat16':
      return 2;
    case 'int8':
    case 'uint8':
    case 'bool':
      return 1;
  }
}

export function numElements(dims: readonly number[]): number {
  let n = 1;
  for (const d of dims) n *= d;
  return n;
}
