// PEFT's PromptEncoder as graph nodes. Input: the virtual-token embedding [n, D] (nn.Embedding, N(0, 1)).
//   MLP:  Linear(D→h) → ReLU → Linear(h→h) → ReLU → Linear(h→D)               (mlp_head.0 / .2 / .4)
//   LSTM: bidirectional nn.LSTM(D→h, encoder_num_layers layers, batch_first), then
//         Linear(2h→2h) → ReLU → Linear(2h→D)                                  (lstm_head, mlp_head.0 / .2)
// The LSTM is unrolled over the n virtual tokens from MatMul, Sigmoid, Tanh, Mul, Add, Slice and Concat, so
// its gradient comes from the existing rules (checked by central differences in p-tuning.test.ts). Dropout
// between layers multiplies by masks fed as graph inputs (lstmDropoutFeeds), so resuming repeats them. torch's
// gate order: i, f, g, o; c' = f·c + i·g, h' = o·tanh(c'), with h and c starting at 0; the reverse direction
// reads the tokens from last to first and its output at t is the state after reading t..n-1.

import { seededRandom } from '../../data/batches.js';
import type { GraphBuilder } from '../../onnx/builder.js';
import type { TensorData, Value } from '../../onnx/ir.js';
import { add, concat, fusedMatMul, mul, relu, sigmoid, slice, tanh } from '../../onnx/ops.js';
import type { PTuningConfig } from './config.js';

export const P_TUNING_PREFIX = 'prompt_encoder.default.';
export const pName = (local: string): string => `${P_TUNING_PREFIX}${local}`;

export interface EncoderShape {
  readonly n: number;
  /** The model's hidden size (token_dim). */
  readonly D: number;
  /** encoder_hidden_size. */
  readonly h: number;
}

/** Every tensor of the encoder with its shape and fan-in (for torch's U(-1/√fan, 1/√fan) init). */
export function encoderTensors(
  c: PTuningConfig,
  s: EncoderShape,
): Map<string, { dims: number[]; fanIn: number | null }> {
  const { n, D, h } = s;
  const out = new Map<string, { dims: number[]; fanIn: number | null }>();
  out.set(pName('embedding.weight'), { dims: [n, D], fanIn: null });
  const linear = (name: string, inF: number, outF: number) => {
    out.set(pName(`${name}.weight`), { dims: [outF, inF], fanIn: inF });
    out.set(pName(`${name}.bias`), { dims: [outF], fanIn: inF });
  };
  if (c.encoderReparameterizationType === 'MLP') {
    linear('mlp_head.0', D, h);
    linear('mlp_head.2', h, h);
    linear('mlp_head.4', h, D);
    return out;
  }
  for (let l = 0; l < c.encoderNumLayers; l++) {
    const inF = l === 0 ? D : 2 * h;
    for (const sfx of ['', '_reverse']) {
      // nn.LSTM draws every tensor from U(-1/√h, 1/√h)
      out.set(pName(`lstm_head.weight_ih_l${l}${sfx}`), { dims: [4 * h, inF], fanIn: h });
      out.set(pName(`lstm_head.weight_hh_l${l}${sfx}`), { dims: [4 * h, h], fanIn: h });
      out.set(pName(`lstm_head.bias_ih_l${l}${sfx}`), { dims: [4 * h], fanIn: h });
      out.set(pName(`lstm_head.bias_hh_l${l}${sfx}`), { dims: [4 * h], fanIn: h });
    }
  }
  linear('mlp_head.0', 2 * h, 2 * h);
  linear('mlp_head.2', 2 * h, D);
  return out;
}

/** x·Wᵀ + b for x [rows, in], W [out, in]. */
function linear(b: GraphBuilder, x: Value, w: Value, bias: Value): Value {
  return add(b, fusedMatMul(b, x, w, { transB: true }), bias);
}

/** Graph input holding the dropout mask (already scaled by 1/(1-p)) on the input of LSTM layer `layer` ≥ 1. */
export const lstmDropoutMaskName = (layer: number): string => `p_tuning_dropout_mask:${layer}`;

// A 32-bit mix of (seed, step, layer): each mask its own stream.
function mix(...parts: number[]): number {
  let h = 0x811c9dc5;
  for (const p of parts) {
    h = Math.imul(h ^ (p >>> 0), 0x01000193) >>> 0;
    h = Math.imul(h ^ (h >>> 15), 0x2c1b3c6d) >>> 0;
  }
  return h;
}

/**
 * The masks of one micro-step, drawn from (seed, micro-step, layer) alone, so a resumed run draws the masks the
 * uninterrupted one drew (as LoRA's fed dropout does).
 */
export function lstmDropoutFeeds(
  c: PTuningConfig,
  s: EncoderShape,
  seed: number,
  step: number,
): Record<string, TensorData> {
  const out: Record<string, TensorData> = {};
  if (c.encoderReparameterizationType !== 'LSTM' || c.encoderDropout === 0) return out;
  const keep = 1 / (1 - c.encoderDropout);
  for (let l = 1; l < c.encoderNumLayers; l++) {
    const random = seededRandom(mix(seed, step, l));
    const data = new Float32Array(s.n * 2 * s.h);
    for (let j = 0; j < data.length; j++) data[j] = random() < c.encoderDropout ? 0 : keep;
    out[lstmDropoutMaskName(l)] = { dtype: 'float32', dims: [s.n, 2 * s.h], data };
  }
  return out;
}

/** One direction of one LSTM layer over x [n, in]; returns the hidden state at each position, [n, h]. */
function lstmDirection(
  b: GraphBuilder,
  x: Value,
  get: (name: string) => Value,
  layer: number,
  reverse: boolean,
  s: EncoderShape,
): Value {
  const { n, h } = s;
  const sfx = reverse ? '_reverse' : '';
  const wih = get(pName(`lstm_head.weight_ih_l${layer}${sfx}`));
  const whh = get(pName(`lstm_head.weight_hh_l${layer}${sfx}`));
  const bias = add(b, get(pName(`lstm_head.bias_ih_l${layer}${sfx}`)), get(pName(`lstm_head.bias_hh_l${layer}${sfx}`)));
  const xi = linear(b, x, wih, bias); // [n, 4h]: input part of every step's gates
  const outs: Value[] = new Array(n);
  let hPrev: Value | null = null;
  let cPrev: Value | null = null;
  for (let k = 0; k < n; k++) {
    const t = reverse ? n - 1 - k : k;
    const xt = slice(b, xi, [t], [t + 1], [0]); // [1, 4h]
    const gates = hPrev === null ? xt : add(b, xt, fusedMatMul(b, hPrev, whh, { transB: true })); // [1, 4h]
    const gate = (j: number) => slice(b, gates, [j * h], [(j + 1) * h], [1]); // [1, h]
    const i = sigmoid(b, gate(0));
    const f = sigmoid(b, gate(1));
    const g = tanh(b, gate(2));
    const o = sigmoid(b, gate(3));
    const c: Value = cPrev === null ? mul(b, i, g) : add(b, mul(b, f, cPrev), mul(b, i, g)); // [1, h]
    const hNow = mul(b, o, tanh(b, c)); // [1, h]
    outs[t] = hNow;
    hPrev = hNow;
    cPrev = c;
  }
  return concat(b, outs, 0); // [n, h]
}

export interface EncoderBuild {
  /** Training graph: dropout between LSTM layers when encoder_dropout > 0 (masks fed per micro-step). */
  readonly training: boolean;
}

/** The encoder's output, the virtual tokens [n, D]. `get` gives each tensor by name as a graph value. */
export function buildPromptEncoder(
  b: GraphBuilder,
  c: PTuningConfig,
  s: EncoderShape,
  get: (name: string) => Value,
  opts: EncoderBuild,
): Value {
  const e = get(pName('embedding.weight')); // [n, D]
  if (c.encoderReparameterizationType === 'MLP') {
    const h1 = relu(b, linear(b, e, get(pName('mlp_head.0.weight')), get(pName('mlp_head.0.bias'))));
    const h2 = relu(b, linear(b, h1, get(pName('mlp_head.2.weight')), get(pName('mlp_head.2.bias'))));
    return linear(b, h2, get(pName('mlp_head.4.weight')), get(pName('mlp_head.4.bias')));
  }
  let x = e;
  for (let l = 0; l < c.encoderNumLayers; l++) {
    // torch's nn.LSTM drops the output of every layer but the last, i.e. the input of layers 1..
    if (l > 0 && opts.training && c.encoderDropout > 0)
      x = mul(b, x, b.input(lstmDropoutMaskName(l), 'float32', [s.n, 2 * s.h]));
    const fwd = lstmDirection(b, x, get, l, false, s);
    const bwd = lstmDirection(b, x, get, l, true, s);
    x = concat(b, [fwd, bwd], 1); // [n, 2h]
  }
  const m = relu(b, linear(b, x, get(pName('mlp_head.0.weight')), get(pName('mlp_head.0.bias'))));
  return linear(b, m, get(pName('mlp_head.2.weight')), get(pName('mlp_head.2.bias')));
}

/** Tensors by name as initialisers of `b`, each created once per builder. */
export function initializerGetter(
  b: GraphBuilder,
  tensors: ReadonlyMap<string, TensorData>,
  trainable: boolean,
): (name: string) => Value {
  const made = new Map<string, Value>();
  return (name) => {
    let v = made.get(name);
    if (v === undefined) {
      const t = tensors.get(name);
      if (t === undefined) throw new Error(`prompt encoder tensor '${name}' is missing`);
      v = b.initializer(name, t, { trainable });
      made.set(name, v);
    }
    return v;
  };
}
