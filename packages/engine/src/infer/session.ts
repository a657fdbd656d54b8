// What the inference code needs from an onnxruntime session. onnx/runtime.ts's Session satisfies it
// structurally; tests can hand in a plain object.

import type { TensorData } from '../onnx/ir.js';

export interface RunnableSession {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  /** `transferFeeds`: the feeds' buffers may be moved to the runtime's worker instead of copied. */
  run(
    feeds: Record<string, TensorData>,
    fetch?: readonly string[],
    opts?: { transferFeeds?: boolean },
  ): Promise<Record<string, TensorData>>;
}

/** A decode-mode graph (HF-ONNX KV-cache convention) with the cache geometry needed to start it empty. */
export interface DecoderModel {
  readonly session: RunnableSession;
  readonly layers: number;
  readonly kvHeads: number;
  readonly headDim: number;
  /** Element type of past/present tensors (float32 unless the model computes in float16). */
  readonly kvDtype: 'float32' | 'float16';
  /** Learned position embeddings (GPT-2) cover only this many positions; undefined for RoPE models. */
  readonly maxPositions?: number;
  /**
   * Prompt learning: the cache generation starts from (models/virtual-cache.ts), batch 1: keys[i] / values[i]
   * [1, kvHeads, length, headDim]. These positions come before every prompt, attended (mask 1) at positions
   * 0..length-1; the prompt's tokens follow at length...
   */
  readonly prefix?: {
    readonly length: number;
    readonly keys: readonly TensorData[];
    readonly values: readonly TensorData[];
  };
}

export const pastKeyName = (layer: number): string => `past_key_values.${layer}.key`;
export const pastValueName = (layer: number): string => `past_key_values.${layer}.value`;
export const presentKeyName = (layer: number): string => `present.${layer}.key`;
export const presentValueName = (layer: number): string => `present.${layer}.value`;

/** Reads a float32 output by name, with a clear error when the graph does not produce it. */
export function floatOutput(
  out: Record<string, TensorData>,
  name: string,
): { data: Float32Array; dims: readonly number[] } {
  const t = out[name];
  if (!t) throw new Error(`session produced no '${name}' output`);
  if (!(t.data instanceof Float32Array)) throw new Error(`'${name}' is ${t.dtype}, expected float32`);
  return { data: t.data, dims: t.dims };
}
