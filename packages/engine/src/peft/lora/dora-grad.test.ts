// DoRA's gradient on one linear module, against float64 central differences of the same function written out
// here in plain arithmetic with the weight norm held at its value (PEFT detaches it): both weight layouts
// ([out, in] and GPT-2's Conv1D [in, out]), with a bias, and with the dropout-style freshly computed x·Wᵀ.

import { afterAll, describe, expect, it } from 'vitest';
import { buildGradientGraph } from '../../autodiff/sweep.js';
import { seededRandom } from '../../data/batches.js';
import type { LoraAdapterConfig } from '../../io/peft-config.js';
import { formatPeftKey } from '../../io/peft-keys.js';
import { GraphBuilder } from '../../onnx/builder.js';
import type { TensorData } from '../../onnx/ir.js';
import { add, fusedMatMul, matmul, mul, reduceSum } from '../../onnx/ops.js';
import { releaseAllSessions, runGraph } from '../../onnx/runtime.js';
import { makeLoraConfig } from './config.js';
import { doraExtension, doraFeeds } from './dora.js';

afterAll(releaseAllSessions);

const [N, IN, OUT, R] = [5, 6, 4, 2];
const NAME = 'model.layers.0.self_attn.v_proj';
const keys = {
  A: formatPeftKey(NAME, 'lora_A'),
  B: formatPeftKey(NAME, 'lora_B'),
  m: formatPeftKey(NAME, 'lora_magnitude_vector'),
};

function draw(n: number, r: () => number, lo = -1, hi = 1): number[] {
  return Array.from({ length: n }, () => lo + (hi - lo) * r());
}
const f32 = (dims: number[], v: number[]): TensorData => ({ dtype: 'float32', dims, data: Float32Array.from(v) });

/** L = Σ w ⊙ y for the DoRA layer with the norm at θ0, in float64 (W [out][in] indexing regardless of layout). */
function lossF64(
  p: { A: number[]; B: number[]; m: number[] },
  fixed: { A: number[]; B: number[] },
  d: { x: number[]; W: number[][]; bias: number[]; w: number[]; s: number },
): number {
  const delta = (A: number[], B: number[], o: number, i: number) => {
    let v = 0;
    for (let k = 0; k < R; k++) v += (B[o * R + k] as number) * (A[k * IN + i] as number);
    return v;
  };
  const norm = Array.from({ length: OUT }, (_, o) => {
    let ss = 0;
    for (let i = 0; i < IN; i++) ss += ((d.W[o]?.[i] as number) + d.s * delta(fixed.A, fixed.B, o, i)) ** 2;
    return Math.sqrt(ss);
  });
  let L = 0;
  for (let n = 0; n < N; n++)
    for (let o = 0; o < OUT; o++) {
      let xw = 0;
      let lora = 0;
      for (let i = 0; i < IN; i++) {
        const xi = d.x[n * IN + i] as number;
        xw += xi * (d.W[o]?.[i] as number);
        lora += xi * delta(p.A, p.B, o, i);
      }
      const ratio = (p.m[o] as number) / (norm[o] as number);
      const y = xw + (d.bias[o] as number) + (ratio - 1) * xw + ratio * d.s * lora;
      L += (d.w[n * OUT + o] as number) * y;
    }
  return L;
}

describe.each([
  ['out_in', false],
  ['in_out', false],
  ['out_in', true],
] as const)('DoRA gradient, %s layout, freshBase %s', (layout, freshBase) => {
  it('matches float64 central differences with the norm constant (relative 1e-4)', async () => {
    const r = seededRandom(layout === 'out_in' ? 11 : 12);
    const W = Array.from({ length: OUT }, () => draw(IN, r));
    const bias = draw(OUT, r);
    const x = draw(N * IN, r);
    const w = draw(N * OUT, r);
    const theta = { A: draw(R * IN, r), B: draw(OUT * R, r), m: draw(OUT, r, 0.5, 2) };
    const config: LoraAdapterConfig = makeLoraConfig({ r: R, loraAlpha: 3, targetModules: ['v_proj'], useDora: true });
    const s = 3 / R;
    const tensors = new Map([
      [keys.A, f32([R, IN], theta.A)],
      [keys.B, f32([OUT, R], theta.B)],
      [keys.m, f32([OUT], theta.m)],
    ]);

    const b = new GraphBuilder('dora-grad');
    const xv = b.input('x', 'float32', [N, IN]);
    const Wflat =
      layout === 'out_in'
        ? W.flat()
        : Array.from({ length: IN * OUT }, (_, j) => W[j % OUT]?.[Math.floor(j / OUT)] as number);
    const Wv = b.constant(f32(layout === 'out_in' ? [OUT, IN] : [IN, OUT], Wflat), 'W');
    const bv = b.constant(f32([OUT], bias), 'bias');
    const base = add(b, layout === 'out_in' ? fusedMatMul(b, xv, Wv, { transB: true }) : matmul(b, xv, Wv), bv);
    const ext = doraExtension(config, tensors, { trainable: true, detachNorm: true, freshBase });
    const module = { name: NAME, weight: Wv, bias: bv, layout, inFeatures: IN, outFeatures: OUT } as const;
    const y = ext.linear?.(b, NAME, xv, base, module) ?? base;
    const loss = reduceSum(b, mul(b, y, b.constant(f32([N, OUT], w), 'w')), [], false);
    b.output(loss, 'loss');
    const { graph, gradients } = buildGradientGraph(b.build(), { loss: 'loss', wrt: [keys.A, keys.B, keys.m] });
    const out = await runGraph(
      graph,
      { x: f32([N, IN], x), ...Object.fromEntries(tensors), ...doraFeeds(tensors, [keys.A, keys.B]) },
      ['loss', ...Object.values(gradients)],
    );

    const data = { x, W, bias, w, s };
    const fixed = { A: theta.A, B: theta.B };
    expect((out.loss?.data[0] as number) - lossF64(theta, fixed, data)).toBeCloseTo(0, 4);
    const dir = { A: draw(R * IN, r), B: draw(OUT * R, r), m: draw(OUT, r) };
    let analytic = 0;
    for (const k of ['A', 'B', 'm'] as const) {
      const g = out[gradients[keys[k]] as string]?.data as Float32Array;
      dir[k].forEach((v, i) => {
        analytic += v * (g[i] as number);
      });
    }
    const eps = 1e-6;
    const at = (e: number) =>
      lossF64(
        {
          A: theta.A.map((v, i) => v + e * (dir.A[i] as number)),
          B: theta.B.map((v, i) => v + e * (dir.B[i] as number)),
          m: theta.m.map((v, i) => v + e * (dir.m[i] as number)),
        },
        fixed,
        data,
      );
    const numeric = (at(eps) - at(-eps)) / (2 * eps);
    expect(Math.abs(analytic - numeric) / Math.abs(numeric)).toBeLessThan(1e-4);
  });
});
