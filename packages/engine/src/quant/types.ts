// A frozen linear weight held quantized. Both kinds are stored in nn.Linear's [out, in] orientation whatever the
// checkpoint's layout (GPT-2's Conv1D is transposed once, in JS, when quantizing), because that is the layout
// onnxruntime's MatMulNBits and a per-output-channel DequantizeLinear read.

export type QuantMode = 'int8' | 'int4';
export const QUANT_MODES: readonly QuantMode[] = ['int8', 'int4'];

/** Block sizes the int4 path accepts: MatMulNBits wants a power of two, QLoRA-style recipes use 32–128. */
export const INT4_BLOCK_SIZES: readonly number[] = [32, 64, 128];
export const DEFAULT_INT4_BLOCK_SIZE = 64;

interface QuantizedBase {
  /** Checkpoint name of the float weight this replaces. */
  readonly name: string;
  readonly outFeatures: number;
  readonly inFeatures: number;
  /** The checkpoint's layout, so a dequantized weight can be handed back the way the model stores it. */
  readonly layout: 'out_in' | 'in_out';
}

/** Symmetric int8, one scale per output channel: w[o, i] ≈ q[o, i] · scale[o]. */
export interface Int8Weight extends QuantizedBase {
  readonly kind: 'int8';
  /** [out, in] row-major. */
  readonly q: Int8Array;
  /** [out]. */
  readonly scales: Float32Array;
}

/**
 * Symmetric int4 in blocks of `blockSize` input elements: w[o, i] ≈ (n[o, i] − 8) · scale[o, i / blockSize] with
 * n in 0..15, packed two per byte (low nibble first) — MatMulNBits' B layout [out, in/blockSize, blockSize/2],
 * whose default zero point for 4 bits is 8.
 */
export interface Int4Weight extends QuantizedBase {
  readonly kind: 'int4';
  readonly blockSize: number;
  /** out · in / 2 bytes. */
  readonly packed: Uint8Array;
  /** [out, in/blockSize]. */
  readonly scales: Float32Array;
}

export type QuantizedWeight = Int8Weight | Int4Weight;

export interface QuantOptions {
  readonly mode: QuantMode;
  /** int4 only: input elements per scale (32, 64 or 128; default 64). */
  readonly blockSize?: number;
}

/** Bytes a quantized weight occupies (data plus scales). */
export function quantizedBytes(q: QuantizedWeight): number {
  return q.kind === 'int8' ? q.q.byteLength + q.scales.byteLength : q.packed.byteLength + q.scales.byteLength;
}
