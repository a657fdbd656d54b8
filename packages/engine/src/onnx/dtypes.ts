import type { DType } from './ir.js';

/** ONNX TensorProto.DataType codes (onnx.proto), used by Cast's `to` and by the serialiser. */
export const ONNX_DTYPE: Readonly<Record<DType, number>> = {
  float32: 1,
  uint8: 2,
  int8: 3,
  int32: 6,
  int64: 7,
  bool: 9,
  float16: 10,
  float64: 11,
  bfloat16: 16,
};

export function isFloat(dtype: DType): boolean {
  return dtype === 'float32' || dtype === 'float16' || dtype === 'bfloat16' || dtype === 'float64';
}

// The float16/bfloat16 conversions live once, in io/convert.ts (the safetensors loader is their main user);
// the names here are what the op helpers and serialiser call them.
export {
  bf16ToFloat as bfloat16ToNumber,
  floatToBf16 as bfloat16Bits,
  floatToHalf as float16Bits,
  halfToFloat as float16ToNumber,
} from '../io/convert.js';
