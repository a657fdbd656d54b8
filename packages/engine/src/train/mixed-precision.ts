// Mixed precision for the CUDA execution provider: the loss-mode forward rewritten so that the model computes in
// float16 (or bfloat16) while the trainable tensors stay float32 master weights (cast to half where they are
// read, so their gradients come back float32 through Cast's rule), the loss tail — logits → log-softmax → NLL —
// stays float32, and a fed `loss_scale` multiplies the loss before differentiation (dynamic loss scaling: the
// caller divides the gradients by it and adjusts it with LossScaler). The CPU path does not use this: it trains
// in float32. What runs in half: every node that depends on a weight matrix or a trainable tensor; positions,
// masks and RoPE tables (computed from the inputs alone) stay float32 and are cast where the half model reads
// them. Norm statistics stay float32 (stash_type 1).

import { floatToBf16, floatToHalf } from '../io/convert.js';
import { GraphBuilder } from '../onnx/builder.js';
import { ONNX_DTYPE } from '../onnx/dtypes.js';
import { attr, type DType, type Graph, type Initializer, type Node, type TensorData, type Value } from '../onnx/ir.js';
import * as ops from '../onnx/ops.js';
import { TrainError } from './errors.js';

export type HalfDType = 'float16' | 'bfloat16';

/** Name of the fed scalar float32 the loss is multiplied by before the backward. */
export const LOSS_SCALE = 'loss_scale';

// Outputs that stay float32 in half graphs (onnxruntime computes norm statistics in float32 with stash_type 1).
const FLOAT32_OUTPUTS: Readonly<Record<string, readonly number[]>> = {
  SimplifiedLayerNormalization: [1],
  LayerNormalization: [1, 2],
};

const HALF_MAX = 65504;

function toHalfData(t: TensorData, dtype: HalfDType): TensorData {
  const conv = dtype === 'float16' ? floatToHalf : floatToBf16;
  const src = t.data as Float32Array;
  const out = new Uint16Array(src.length);
  // Clamped: the masks' −3.4e38 becomes the most negative finite half instead of −inf (a fully masked row would
  // otherwise softmax to NaN).
  for (let i = 0; i < src.length; i++) out[i] = conv(Math.max(-HALF_MAX, Math.min(HALF_MAX, src[i] as number)));
  return { dtype, dims: t.dims, data: out };
}

/**
 * The half-precision version of a loss-mode forward graph. `logits` names the value the float32 loss tail starts
 * from, `loss` the loss the tail ends in; the result has an extra input `loss_scale` and output `scaled_loss`.
 */
export function toMixedPrecision(
  g: Graph,
  opts: { dtype: HalfDType; logits: string; loss: string },
): { graph: Graph; scaledLoss: string } {
  const { dtype } = opts;
  const inits = new Map(g.initializers.map((i) => [i.name, i]));
  const producer = new Map<string, number>();
  g.nodes.forEach((n, i) => {
    for (const o of n.outputs) if (o !== '') producer.set(o, i);
  });
  const logitsAt = producer.get(opts.logits);
  if (logitsAt === undefined) throw new TrainError('bad_hyperparameter', `mixed precision: no value '${opts.logits}'`);

  // tail: everything computed from the logits; region: what depends on a weight matrix or a trainable tensor
  const tail = new Set<string>([opts.logits]);
  const region = new Set<string>(
    g.initializers
      .filter((i) => i.tensor.dtype === 'float32' && (i.trainable || i.tensor.dims.length >= 2))
      .map((i) => i.name),
  );
  const inTail: boolean[] = [];
  const inRegion: boolean[] = [];
  g.nodes.forEach((n, i) => {
    const t = i > logitsAt && n.inputs.some((x) => tail.has(x));
    inTail.push(t);
    if (t) for (const o of n.outputs) tail.add(o);
    const r = !t && i <= logitsAt && n.inputs.some((x) => region.has(x));
    inRegion.push(r);
    if (r) for (const o of n.outputs) region.add(o);
  });

  const b = new GraphBuilder(`${g.name}.${dtype}`, { opset: g.opset });
  const renamed = new Map<string, Value>(); // half copies and casts, by (name|dtype)
  const outName = new Map<string, string>();
  for (const v of g.inputs) b.input(v.name, v.dtype, v.shape ?? []);
  for (const i of g.initializers) {
    if (region.has(i.name) && !i.trainable && i.tensor.dtype === 'float32')
      b.initializer(i.name, toHalfData(i.tensor, dtype));
    else b.initializer(i.name, i.tensor, { trainable: i.trainable });
  }
  const current = (name: string): Value => b.value(outName.get(name) ?? name);
  /** `name` as dtype `want`: a converted frozen initialiser or a Cast, made once. */
  const as = (name: string, want: DType): Value => {
    const v = current(name);
    if (v.dtype === want || !(v.dtype === 'float32' || v.dtype === dtype)) return v;
    const key = `${name}|${want}`;
    let c = renamed.get(key);
    if (c === undefined) {
      const init = inits.get(name) as Initializer | undefined;
      c =
        init !== undefined && !init.trainable && want === dtype
          ? b.initializer(`${name}.${dtype}`, toHalfData(init.tensor, dtype))
          : ops.cast(b, v, want);
      renamed.set(key, c);
    }
    return c;
  };

  g.nodes.forEach((n, i) => {
    const half = inRegion[i] === true;
    const keep32 = FLOAT32_OUTPUTS[n.opType] ?? [];
    const inputs = n.inputs.map((x) => {
      if (x === '') return null;
      const v = current(x);
      if (!(v.dtype === 'float32' || v.dtype === dtype)) return v;
      // statistics inputs (none in the forward) and shape-like float inputs keep their type
      return as(x, half ? dtype : 'float32');
    });
    let attrs = n.attrs;
    if (half && n.opType === 'Cast' && attrs.to?.type === 'int' && attrs.to.value === ONNX_DTYPE.float32) {
      attrs = { ...attrs, to: attr.int(ONNX_DTYPE[dtype]) };
    }
    if (
      half &&
      n.opType === 'ConstantOfShape' &&
      attrs.value?.type === 'tensor' &&
      attrs.value.value.dtype === 'float32'
    ) {
      attrs = { ...attrs, value: attr.tensor(toHalfData(attrs.value.value, dtype)) };
    }
    const outs = b.op(n.opType, inputs, attrs, {
      domain: n.domain,
      outputs: n.outputs.length,
      names: n.outputs.map((o, k) => (o === '' ? `${n.name}.unused${k}` : o)),
      dtypes: n.outputs.map((o, k) => {
        const d = g.values.get(o)?.dtype ?? 'float32';
        return half && d === 'float32' && !keep32.includes(k) ? dtype : d;
      }),
      shapes: n.outputs.map((o) => g.values.get(o)?.shape),
    });
    outs.forEach((v, k) => {
      const o = n.outputs[k] as string;
      if (o !== '') outName.set(o, v.name);
    });
  });
  const scale = b.input(LOSS_SCALE, 'float32', []);
  const scaled = b.op1('Mul', [as(opts.loss, 'float32'), scale], {}, { names: ['scaled_loss'], shapes: [[]] });
  for (const o of g.outputs) b.output(as(o.name, o.dtype));
  b.output(scaled);
  return { graph: b.build(), scaledLoss: scaled.name };
}

/**
 * Dynamic loss scaling (as torch.cuda.amp.GradScaler): start high, halve and skip the step when a gradient is
 * not finite, double after `growthInterval` finite steps in a row.
 */
export class LossScaler {
  private good = 0;
  constructor(
    public scale = 2 ** 16,
    private readonly growthInterval = 2000,
    private readonly minScale = 1,
  ) {}

  /** Records a step's outcome; returns whether the optimiser may apply it. */
  update(finite: boolean): boolean {
    if (!finite) {
      this.scale = Math.max(this.minScale, this.scale / 2);
      this.good = 0;
      return false;
    }
    if (++this.good >= this.growthInterval) {
      this.scale *= 2;
      this.good = 0;
    }
    return true;
  }
}
