// Quantizing a model's frozen linear weights at load time, and dequantizing them back (merge, references). Only
// the decoder blocks' linear projections are quantized, as QLoRA does: the embeddings are gathered from, not
// multiplied, and the LM head (often tied to them) is kept in float for the loss' sake.

import type { ModelConfig } from '../io/config.js';
import type { TensorData } from '../onnx/ir.js';
import { QuantError } from './errors.js';
import {
  DEFAULT_INT4_BLOCK_SIZE,
  INT4_BLOCK_SIZES,
  type Int4Weight,
  type Int8Weight,
  QUANT_MODES,
  type QuantizedWeight,
  type QuantOptions,
} from './types.js';

const LLAMA_LINEAR = /^model\.layers\.\d+\.(self_attn\.[qkvo]_proj|mlp\.(gate|up|down)_proj)\.weight$/;
const GPT2_LINEAR = /^transformer\.h\.\d+\.(attn\.c_attn|attn\.c_proj|mlp\.c_fc|mlp\.c_proj)\.weight$/;

/** The checkpoint layout of a quantizable linear weight, or null when the tensor stays float. */
export function quantizableLayout(config: ModelConfig, name: string): 'out_in' | 'in_out' | null {
  if (config.family === 'gpt2') return GPT2_LINEAR.test(name) ? 'in_out' : null;
  return LLAMA_LINEAR.test(name) ? 'out_in' : null;
}

function floats(name: string, t: TensorData): Float32Array {
  if (t.dtype !== 'float32' || !(t.data instanceof Float32Array) || t.dims.length !== 2) {
    throw new QuantError(
      'bad_tensor',
      `cannot quantize '${name}': expected a 2-D float32 tensor, got ${t.dtype} [${t.dims.join(', ')}]`,
    );
  }
  return t.data;
}

/** Element [o, i] of the weight in [out, in] orientation, whatever the stored layout. */
function reader(t: TensorData, layout: 'out_in' | 'in_out', data: Float32Array): (o: number, i: number) => number {
  const cols = t.dims[1] as number;
  return layout === 'out_in' ? (o, i) => data[o * cols + i] as number : (o, i) => data[i * cols + o] as number;
}

function outIn(t: TensorData, layout: 'out_in' | 'in_out'): [number, number] {
  const [r, c] = t.dims as [number, number];
  return layout === 'out_in' ? [r, c] : [c, r];
}

export function quantizeInt8(name: string, t: TensorData, layout: 'out_in' | 'in_out'): Int8Weight {
  const data = floats(name, t);
  const [outF, inF] = outIn(t, layout);
  const at = reader(t, layout, data);
  const q = new Int8Array(outF * inF);
  const scales = new Float32Array(outF);
  for (let o = 0; o < outF; o++) {
    let m = 0;
    for (let i = 0; i < inF; i++) m = Math.max(m, Math.abs(at(o, i)));
    const s = Math.fround(m / 127);
    scales[o] = s;
    if (s === 0) continue;
    for (let i = 0; i < inF; i++) q[o * inF + i] = Math.max(-127, Math.min(127, Math.round(at(o, i) / s)));
  }
  return { kind: 'int8', name, outFeatures: outF, inFeatures: inF, layout, q, scales };
}

export function quantizeInt4(name: string, t: TensorData, layout: 'out_in' | 'in_out', blockSize: number): Int4Weight {
  const data = floats(name, t);
  const [outF, inF] = outIn(t, layout);
  checkBlockSize(blockSize, [{ name, inFeatures: inF }]);
  const at = reader(t, layout, data);
  const nb = inF / blockSize;
  const packed = new Uint8Array((outF * inF) / 2);
  const scales = new Float32Array(outF * nb);
  for (let o = 0; o < outF; o++) {
    for (let blk = 0; blk < nb; blk++) {
      let m = 0;
      for (let k = 0; k < blockSize; k++) m = Math.max(m, Math.abs(at(o, blk * blockSize + k)));
      // absmax/7 maps the largest magnitude to ±7; −8 stays unused so the grid is symmetric.
      const s = Math.fround(m / 7);
      scales[o * nb + blk] = s;
      for (let k = 0; k < blockSize; k++) {
        const i = blk * blockSize + k;
        const n = s === 0 ? 8 : Math.max(-8, Math.min(7, Math.round(at(o, i) / s))) + 8;
        const idx = o * inF + i;
        packed[idx >> 1] = (packed[idx >> 1] as number) | (idx & 1 ? n << 4 : n);
      }
    }
  }
  return { kind: 'int4', name, outFeatures: outF, inFeatures: inF, layout, blockSize, packed, scales };
}

/** The float weight a quantized one stands for, in the checkpoint's layout and dims. */
export function dequantize(q: QuantizedWeight): TensorData {
  const { outFeatures: outF, inFeatures: inF } = q;
  const out = new Float32Array(outF * inF);
  const put =
    q.layout === 'out_in'
      ? (o: number, i: number, v: number) => {
          out[o * inF + i] = v;
        }
      : (o: number, i: number, v: number) => {
          out[i * outF + o] = v;
        };
  for (let o = 0; o < outF; o++) {
    for (let i = 0; i < inF; i++) {
      const idx = o * inF + i;
      if (q.kind === 'int8') put(o, i, (q.q[idx] as number) * (q.scales[o] as number));
      else {
        const byte = q.packed[idx >> 1] as number;
        const n = idx & 1 ? byte >> 4 : byte & 15;
        put(o, i, Math.fround((n - 8) * (q.scales[o * (inF / q.blockSize) + Math.floor(i / q.blockSize)] as number)));
      }
    }
  }
  return { dtype: 'float32', dims: q.layout === 'out_in' ? [outF, inF] : [inF, outF], data: out };
}

/** Fails unless `blockSize` is an accepted int4 block size dividing every input dimension; names what would fit. */
export function checkBlockSize(blockSize: number, tensors: readonly { name: string; inFeatures: number }[]): void {
  const fits = INT4_BLOCK_SIZES.filter((s) => tensors.every((t) => t.inFeatures % s === 0));
  const fitText =
    fits.length > 0
      ? `block sizes that fit this model: ${fits.join(', ')}`
      : `no int4 block size (${INT4_BLOCK_SIZES.join(', ')}) divides every input dimension of this model; use int8`;
  if (!INT4_BLOCK_SIZES.includes(blockSize)) {
    throw new QuantError(
      'bad_block_size',
      `quant block size ${blockSize} is not one of ${INT4_BLOCK_SIZES.join(', ')}; ${fitText}`,
    );
  }
  const bad = tensors.find((t) => t.inFeatures % blockSize !== 0);
  if (bad !== undefined) {
    throw new QuantError(
      'bad_block_size',
      `quant block size ${blockSize} does not divide the input dimension ${bad.inFeatures} of '${bad.name}'; ${fitText}`,
    );
  }
}

export interface QuantizedModel {
  /** The tensors that stay float (embeddings, norms, biases, LM head). */
  readonly weights: Map<string, TensorData>;
  readonly quantized: Map<string, QuantizedWeight>;
  /** Bytes of the float32 tensors that were quantized, and of their quantized form. */
  readonly floatBytes: number;
  readonly quantBytes: number;
}

/**
 * Splits a model's weights into float ones and quantized linear weights. The float arrays of quantized tensors
 * are not referenced by the result, so once the caller drops the input map they can be collected.
 */
export function quantizeModel(
  config: ModelConfig,
  weights: ReadonlyMap<string, TensorData>,
  opts: QuantOptions,
): QuantizedModel {
  if (!QUANT_MODES.includes(opts.mode)) {
    throw new QuantError(
      'bad_mode',
      `quantize '${String(opts.mode)}' is not supported; use ${QUANT_MODES.join(' or ')}`,
    );
  }
  if (opts.mode === 'int8' && opts.blockSize !== undefined) {
    throw new QuantError(
      'bad_block_size',
      'quant block size applies to int4 only (int8 uses one scale per output channel)',
    );
  }
  const targets = [...weights].flatMap(([name, t]) => {
    const layout = quantizableLayout(config, name);
    return layout === null ? [] : [{ name, t, layout, inFeatures: outIn(t, layout)[1] }];
  });
  if (targets.length === 0) throw new QuantError('bad_tensor', `${config.architecture}: no linear weights to quantize`);
  const blockSize = opts.blockSize ?? DEFAULT_INT4_BLOCK_SIZE;
  if (opts.mode === 'int4') checkBlockSize(blockSize, targets);
  const float = new Map(weights);
  const quantized = new Map<string, QuantizedWeight>();
  let floatBytes = 0;
  let quantBytes = 0;
  for (const { name, t, layout } of targets) {
    const q = opts.mode === 'int8' ? quantizeInt8(name, t, layout) : quantizeInt4(name, t, layout, blockSize);
    float.delete(name);
    quantized.set(name, q);
    floatBytes += t.data.byteLength;
    quantBytes += q.kind === 'int8' ? q.q.byteLength + q.scales.byteLength : q.packed.byteLength + q.scales.byteLength;
  }
  return { weights: float, quantized, floatBytes, quantBytes };
}

/**
 * The weights a quantized model computes with, all in float32: what a method's apply() should see (DoRA's
 * magnitude starts from the norm of these, as PEFT's does on a quantized base). Training drops these float
 * copies again once the graphs are built against the quantized weights.
 */
export function dequantizedWeights(q: {
  readonly weights: ReadonlyMap<string, TensorData>;
  readonly quantized: ReadonlyMap<string, QuantizedWeight>;
}): Map<string, TensorData> {
  const out = new Map(q.weights);
  for (const [n, w] of q.quantized) out.set(n, dequantize(w));
  return out;
}
