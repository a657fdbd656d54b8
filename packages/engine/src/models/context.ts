import type { GraphBuilder } from '../onnx/builder.js';
import { dimProduct, dimSum } from '../onnx/dims.js';
import type { Dim, Value } from '../onnx/ir.js';
import { shape } from '../onnx/ops.js';
import type { ModelConfig } from './config.js';
import type { ModelExtensions } from './extensions.js';
import type { Weights } from './weights.js';

/** What every layer function needs while one graph is being written. */
export interface ModelParts {
  readonly b: GraphBuilder;
  readonly cfg: ModelConfig;
  readonly w: Weights;
  readonly ext: ModelExtensions;
}

/**
 * ModelParts plus the sizes of this forward pass: B batch, T new positions, S = past + T key positions,
 * N = B·T rows of the 2-D activations every linear works on.
 */
export interface BuildContext extends ModelParts {
  /** Symbolic sizes, for shape hints only. */
  readonly dims: { readonly B: Dim; readonly T: Dim; readonly S: Dim; readonly N: Dim };
  /** int64 [2] = [B, T] at run time, for reshapes from [N, ·] back to [B, T, ·]. */
  readonly bt: Value;
}

/**
 * Sizes are read from the embeddings [B, T, D] after the `embed` hook, which may have added positions;
 * `pastDim` is the symbolic cache length (0 without a cache).
 */
export function contextFor(parts: ModelParts, embeds: Value, pastDim: Dim): BuildContext {
  const B = embeds.shape?.[0] ?? 'batch';
  const T = embeds.shape?.[1] ?? 'seq';
  const S = dimSum([pastDim, T]);
  return { ...parts, dims: { B, T, S, N: dimProduct([B, T]) }, bt: shape(parts.b, embeds, 0, 2) };
}
