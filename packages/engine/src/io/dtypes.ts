import type { DType, TensorArray } from '../onnx/ir.js';

/** safetensors dtype strings this reader understands. */
export type SafetensorsDType =
  | 'F64'
  | 'F32'
  | 'F16'
  | 'BF16'
  | 'I64'
  | 'I32'
  | 'I16'
  | 'I8'
  | 'U8'
  | 'U16'
  | 'U32'
  | 'BOOL';

interface DTypeInfo {
  /** Bytes per element as stored in the file. */
  readonly size: number;
  /** The IR dtype the tensor becomes when loaded without float conversion. I16/U16/U32 widen: the IR has no such types. */
  readonly ir: DType;
}

export const SAFETENSORS_DTYPES: Readonly<Record<SafetensorsDType, DTypeInfo>> = {
  F64: { size: 8, ir: 'float64' },
  F32: { size: 4, ir: 'float32' },
  F16: { size: 2, ir: 'float16' },
  BF16: { size: 2, ir: 'bfloat16' },
  I64: { size: 8, ir: 'int64' },
  I32: { size: 4, ir: 'int32' },
  I16: { size: 2, ir: 'int32' },
  I8: { size: 1, ir: 'int8' },
  U8: { size: 1, ir: 'uint8' },
  U16: { size: 2, ir: 'int32' },
  U32: { size: 4, ir: 'int64' },
  BOOL: { size: 1, ir: 'bool' },
};

/** Dtypes of the format that exist but that we refuse with a specific message rather than "unknown". */
export const UNSUPPORTED_SAFETENSORS_DTYPES: readonly string[] = [
  'U64',
  'F8_E4M3',
  'F8_E5M2',
  'F8_E8M0',
  'F4',
  'F6_E2M3',
  'F6_E3M2',
  'C64',
];

export function isSafetensorsDType(s: string): s is SafetensorsDType {
  return Object.hasOwn(SAFETENSORS_DTYPES, s);
}

export function safetensorsDTypeOf(dtype: DType): SafetensorsDType {
  switch (dtype) {
    case 'float64':
      return 'F64';
    case 'float32':
      return 'F32';
    case 'float16':
      return 'F16';
    case 'bfloat16':
      return 'BF16';
    case 'int64':
      return 'I64';
    case 'int32':
      return 'I32';
    case 'int8':
      return 'I8';
    case 'uint8':
      return 'U8';
    case 'bool':
      return 'BOOL';
  }
}

export function allocate(dtype: DType, n: number): TensorArray {
  switch (dtype) {
    case 'float64':
      return new Float64Array(n);
    case 'float32':
      return new Float32Array(n);
    case 'float16':
    case 'bfloat16':
      return new Uint16Array(n);
    case 'int64':
      return new BigInt64Array(n);
    case 'int32':
      return new Int32Array(n);
    case 'int8':
      return new Int8Array(n);
    case 'uint8':
    case 'bool':
      return new Uint8Array(n);
  }
}

export function isFloat(dtype: DType): boolean {
  return dtype === 'float64' || dtype === 'float32' || dtype === 'float16' || dtype === 'bfloat16';
}

/** The array's bytes, without copying. */
export function bytesOf(a: TensorArray): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}
