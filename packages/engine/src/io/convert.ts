import type { DType, TensorArray } from '../onnx/ir.js';
import { SAFETENSORS_DTYPES, type SafetensorsDType } from './dtypes.js';

// Conversions between the stored element types and the dtype a tensor is loaded as. They run chunk by chunk
// over a small scratch buffer so that a bf16 checkpoint becomes float32 without a second full copy.
// safetensors is little-endian, and so is every platform onnxruntime-node ships for, so typed-array views
// over the raw bytes read the values directly.

/** What a caller asks the loader to do with floating-point tensors. Integer tensors always keep their type. */
export type LoadDType = 'float32' | 'float16' | 'keep';

export function loadedDType(stored: SafetensorsDType, mode: LoadDType): DType {
  const ir = SAFETENSORS_DTYPES[stored].ir;
  if (mode === 'keep') return ir;
  const isFloatStored = stored === 'F64' || stored === 'F32' || stored === 'F16' || stored === 'BF16';
  return isFloatStored ? mode : ir;
}

let halfTable: Float32Array | undefined;

/** All 65,536 float16 bit patterns as float32; built once on first use (256 KiB). */
function halfToFloatTable(): Float32Array {
  if (halfTable) return halfTable;
  const t = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >> 10) & 0x1f;
    const frac = h & 0x3ff;
    if (exp === 0) t[h] = sign * frac * 2 ** -24;
    else if (exp === 31) t[h] = frac === 0 ? sign * Infinity : NaN;
    else t[h] = sign * (1 + frac / 1024) * 2 ** (exp - 15);
  }
  halfTable = t;
  return t;
}

export function halfToFloat(h: number): number {
  return halfToFloatTable()[h & 0xffff] as number;
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** float32 value -> float16 bits, round to nearest even, overflow to infinity, NaN kept quiet. */
export function floatToHalf(x: number): number {
  f32[0] = x;
  const bits = u32[0] as number;
  const sign = (bits >>> 16) & 0x8000;
  const exp = (bits >>> 23) & 0xff;
  const mant = bits & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    // Subnormal half (or zero): shift the implicit-one mantissa into place, rounding to nearest even.
    if (e < -10) return sign;
    const m = mant | 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    const rest = m & ((1 << shift) - 1);
    let r = m >>> shift;
    if (rest > half || (rest === half && r & 1)) r++;
    return sign | r;
  }
  let r = (e << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && r & 1)) r++; // may carry into the exponent, which is right
  return sign | r;
}

/** float32 value -> bfloat16 bits, round to nearest even. */
export function floatToBf16(x: number): number {
  f32[0] = x;
  const bits = u32[0] as number;
  if ((bits & 0x7f800000) === 0x7f800000 && bits & 0x7fffff) return ((bits >>> 16) | 0x40) & 0xffff;
  return ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16) & 0xffff;
}

export function bf16ToFloat(h: number): number {
  u32[0] = (h & 0xffff) << 16;
  return f32[0] as number;
}

/**
 * Decode `count` stored elements from `src` (8-byte aligned, little-endian) into `dst` starting at element `at`.
 * `dst` has the dtype `loadedDType` chose for this stored type.
 */
export function decodeInto(
  stored: SafetensorsDType,
  src: Uint8Array,
  count: number,
  dst: TensorArray,
  dstDType: DType,
  at: number,
): void {
  const buf = src.buffer;
  const off = src.byteOffset;
  switch (stored) {
    case 'BF16': {
      const s = new Uint16Array(buf, off, count);
      if (dstDType === 'bfloat16') (dst as Uint16Array).set(s, at);
      else if (dstDType === 'float32') {
        const d = new Uint32Array(dst.buffer, dst.byteOffset + at * 4, count);
        for (let i = 0; i < count; i++) d[i] = (s[i] as number) << 16;
      } else {
        const d = dst as Uint16Array;
        for (let i = 0; i < count; i++) d[at + i] = floatToHalf(bf16ToFloat(s[i] as number));
      }
      return;
    }
    case 'F16': {
      const s = new Uint16Array(buf, off, count);
      if (dstDType === 'float16') (dst as Uint16Array).set(s, at);
      else {
        const t = halfToFloatTable();
        const d = dst as Float32Array;
        for (let i = 0; i < count; i++) d[at + i] = t[s[i] as number] as number;
      }
      return;
    }
    case 'F32':
    case 'F64': {
      const s = stored === 'F32' ? new Float32Array(buf, off, count) : new Float64Array(buf, off, count);
      if (dstDType === 'float16') {
        const d = dst as Uint16Array;
        for (let i = 0; i < count; i++) d[at + i] = floatToHalf(s[i] as number);
      } else (dst as Float32Array | Float64Array).set(s, at);
      return;
    }
    case 'I16':
      (dst as Int32Array).set(new Int16Array(buf, off, count), at);
      return;
    case 'U16':
      (dst as Int32Array).set(new Uint16Array(buf, off, count), at);
      return;
    case 'U32': {
      const s = new Uint32Array(buf, off, count);
      const d = dst as BigInt64Array;
      for (let i = 0; i < count; i++) d[at + i] = BigInt(s[i] as number);
      return;
    }
    case 'I64':
    case 'I32':
    case 'I8':
    case 'U8':
    case 'BOOL': {
      const size = SAFETENSORS_DTYPES[stored].size;
      new Uint8Array(dst.buffer, dst.byteOffset + at * size, count * size).set(src.subarray(0, count * size));
      return;
    }
  }
}

/** True when the stored bytes are exactly the loaded representation, so they can be read straight into place. */
export function isVerbatim(stored: SafetensorsDType, dst: DType): boolean {
  return SAFETENSORS_DTYPES[stored].ir === dst && stored !== 'I16' && stored !== 'U16' && stored !== 'U32';
}
