// Checkpoint tensors become graph initialisers under their checkpoint names, so loading is a name lookup with
// a shape check. Nothing is copied or transposed here: layouts that differ between architectures (GPT-2's
// Conv1D stores [in, out], nn.Linear stores [out, in]) are handled by how the linear multiplies, never by a
// transposed copy of a frozen weight.

import type { GraphBuilder } from '../onnx/builder.js';
import type { TensorData, Value } from '../onnx/ir.js';
import type { QuantizedWeight } from '../quant/types.js';
import { ModelError } from './errors.js';

/** Which initialisers training differentiates: a list of checkpoint names or a predicate over them. */
export type TrainableSpec = readonly string[] | ((name: string) => boolean);

export class Weights {
  private readonly used = new Set<string>();
  private readonly values = new Map<string, Value>();
  private readonly isTrainable: (name: string) => boolean;

  constructor(
    private readonly b: GraphBuilder,
    private readonly tensors: ReadonlyMap<string, TensorData>,
    trainable: TrainableSpec | undefined,
    /** Linear weights held quantized (a QLoRA base), by checkpoint name; they are not in `tensors`. */
    private readonly quant: ReadonlyMap<string, QuantizedWeight> = new Map(),
  ) {
    if (trainable === undefined) this.isTrainable = () => false;
    else if (typeof trainable === 'function') this.isTrainable = trainable;
    else {
      for (const n of trainable) {
        if (!tensors.has(n) && !quant.has(n))
          throw new ModelError('bad_option', `trainable weight '${n}' is not in the checkpoint`);
      }
      const set = new Set(trainable);
      this.isTrainable = (n) => set.has(n);
    }
  }

  has(name: string): boolean {
    return this.tensors.has(name) || this.quant.has(name);
  }

  /**
   * The quantized form of checkpoint tensor `name` when the base holds it quantized, else undefined. `dims` are
   * the checkpoint dims the config implies (checked like get's).
   */
  quantized(name: string, dims: readonly [number, number]): QuantizedWeight | undefined {
    const q = this.quant.get(name);
    if (q === undefined) return undefined;
    const have = q.layout === 'out_in' ? [q.outFeatures, q.inFeatures] : [q.inFeatures, q.outFeatures];
    if (have[0] !== dims[0] || have[1] !== dims[1]) {
      throw new ModelError(
        'weight_shape',
        `tensor '${name}' is [${have.join(', ')}], the config implies [${dims.join(', ')}]`,
      );
    }
    if (this.isTrainable(name)) {
      throw new ModelError('bad_option', `weight '${name}' is quantized and frozen; it cannot also be trainable`);
    }
    this.used.add(name);
    return q;
  }

  /** The initialiser for checkpoint tensor `name`, which must have exactly `dims`. Repeated calls share it. */
  get(name: string, dims: readonly number[]): Value {
    const t = this.tensors.get(name);
    if (t === undefined && this.quant.has(name)) {
      throw new ModelError('weight_dtype', `tensor '${name}' is quantized; only a linear layer can read it`);
    }
    if (t === undefined)
      throw new ModelError('missing_weight', `checkpoint has no tensor '${name}' (expected [${dims.join(', ')}])`);
    if (t.dims.length !== dims.length || t.dims.some((d, i) => d !== dims[i])) {
      throw new ModelError(
        'weight_shape',
        `tensor '${name}' is [${t.dims.join(', ')}], the config implies [${dims.join(', ')}]`,
      );
    }
    if (t.dtype !== 'float32') {
      throw new ModelError(
        'weight_dtype',
        `tensor '${name}' is ${t.dtype}; the builders compute in float32 (load with dtype float32)`,
      );
    }
    this.used.add(name);
    let v = this.values.get(name);
    if (v === undefined) {
      v = this.b.initializer(name, t, { trainable: this.isTrainable(name) });
      this.values.set(name, v);
    }
    return v;
  }

  /** Fails on checkpoint tensors the model never read (a name-mapping mistake would otherwise pass silently). */
  checkAllUsed(ignore: (name: string) => boolean): void {
    const unused = [...this.tensors.keys(), ...this.quant.keys()].filter((n) => !this.used.has(n) && !ignore(n)).sort();
    if (unused.length > 0) {
      const more = unused.length > 5 ? ` and ${unused.length - 5} more` : '';
      throw new ModelError(
        'unused_weight',
        `checkpoint tensors not used by the model: ${unused.slice(0, 5).join(', ')}${more}`,
      );
    }
  }
}
