// Releasing the main thread's copy of the frozen base weights once onnxruntime holds its own. The training and
// validation sessions are serialised with the weights as initialisers, so after both exist the Float32Arrays the
// model was loaded into are read by nothing in a run of an adapter method — yet the caller's map, the applied
// method's map and its graph-building closure all still reference them. Detaching each backing ArrayBuffer (a
// transfer to a clone that is dropped at once) frees the memory whoever holds a view, and leaves every view at
// length 0, which `assertWeightsPresent` turns into a typed error for anything that later needs them.

import type { TensorData } from '../onnx/ir.js';
import { numel } from '../peft/count.js';
import { TrainError } from './errors.js';
import type { TrainMethod, TrainModel } from './types.js';

/** A tensor whose buffer was detached: no elements left where its dims promise some. */
function isReleased(t: TensorData): boolean {
  return t.data.length === 0 && numel(t) > 0;
}

/**
 * Detaches the buffers of model.weights that no trainable param shares (params are updated and saved, so they
 * stay) and that weights cover whole. Returns the bytes released. SharedArrayBuffers cannot be detached and are
 * left alone.
 */
export function releaseFrozenWeights(model: TrainModel, method: TrainMethod): number {
  const kept = new Set<ArrayBufferLike>([...method.params.values()].map((t) => t.data.buffer));
  // Bytes of each buffer that weights view. A buffer is detached only when weights cover all of it: a typed array
  // carved from a larger shared buffer (Node's Buffer pool, a file read whole) may share it with unrelated data.
  const covered = new Map<ArrayBuffer, number>();
  const seen = new Set<TensorData>();
  for (const t of model.weights.values()) {
    const b = t.data.buffer;
    if (!(b instanceof ArrayBuffer) || b.byteLength === 0 || kept.has(b) || seen.has(t)) continue;
    seen.add(t);
    covered.set(b, (covered.get(b) ?? 0) + t.data.byteLength);
  }
  const buffers = [...covered].filter(([b, n]) => n >= b.byteLength).map(([b]) => b);
  let bytes = 0;
  for (const b of buffers) bytes += b.byteLength;
  if (buffers.length > 0) structuredClone(undefined, { transfer: buffers });
  return bytes;
}

/** Throws TrainError 'weights_released' naming a base weight an earlier run with releaseFrozenWeights freed. */
export function assertWeightsPresent(model: TrainModel, what: string): void {
  for (const [name, t] of model.weights) {
    if (isReleased(t)) {
      throw new TrainError(
        'weights_released',
        `${what}: base weight '${name}' was released by an earlier run with releaseFrozenWeights; load the model again`,
      );
    }
  }
}
