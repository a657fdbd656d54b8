// PEFT's PromptEncoder as graph nodes against an independent float64 implementation written here from torch's
// formulas (nn.LSTM, bidirectional, gates i, f, g, o): the output, and the gradient of a random projection of it
// with respect to every encoder tensor against float64 central differences of that reference.

import { afterAll, describe, expect, it } from 'vitest';
import { buildGradientGraph } from '../../autodiff/index.js';
import { seededRandom } from '../../data/batches.js';
import { GraphBuilder } from '../../onnx/builder.js';
import type { TensorData } from '../../onnx/ir.js';
import { mul, reduceSum } from '../../onnx/ops.js';
import { releaseAllSessions, runGraph } from '../../onnx/runtime.js';
import { PeftError } from '../errors.js';
import { loadBase } from '../testing.js';
import { applyPTuning, pTuningShape } from './apply.js';
import { makePTuningConfig, type PTuningConfig } from './config.js';
import { buildPromptEncoder, type EncoderShape, initializerGetter, pName } from './encoder.js';

afterAll(releaseAllSessions);

type P = Map<string, Float64Array>;
const sig = (x: number) => 1 / (1 + Math.exp(-x));

/** y = x·Wᵀ + b, x [rows, in] row-major. */
function lin(x: Float64Array, rows: number, w: Float64Array, bias: Float64Array, out: number): Float64Array {
  const inF = w.length / out;
  const y = new Float64Array(rows * out);
  for (let r = 0; r < rows; r++)
    for (let o = 0; o < out; o++) {
      let s = bias[o] as number;
      for (let i = 0; i < inF; i++) s += (x[r * inF + i] as number) * (w[o * inF + i] as number);
      y[r * out + o] = s;
    }
  return y;
}
const reluA = (x: Float64Array) => x.map((v) => Math.max(v, 0));

function refEncoder(c: PTuningConfig, s: EncoderShape, p: P): Float64Array {
  const g = (k: string) => p.get(pName(k)) as Float64Array;
  const { n, D, h } = s;
  if (c.encoderReparameterizationType === 'MLP') {
    const a = reluA(lin(g('embedding.weight'), n, g('mlp_head.0.weight'), g('mlp_head.0.bias'), h));
    const b = reluA(lin(a, n, g('mlp_head.2.weight'), g('mlp_head.2.bias'), h));
    return lin(b, n, g('mlp_head.4.weight'), g('mlp_head.4.bias'), D);
  }
  let x = g('embedding.weight');
  for (let l = 0; l < c.encoderNumLayers; l++) {
    const out = new Float64Array(n * 2 * h);
    for (const [d, sfx] of [
      [0, ''],
      [1, '_reverse'],
    ] as const) {
      const wih = g(`lstm_head.weight_ih_l${l}${sfx}`);
      const whh = g(`lstm_head.weight_hh_l${l}${sfx}`);
      const bih = g(`lstm_head.bias_ih_l${l}${sfx}`);
      const bhh = g(`lstm_head.bias_hh_l${l}${sfx}`);
      const inF = wih.length / (4 * h);
      let hs = new Float64Array(h);
      let cs = new Float64Array(h);
      for (let k = 0; k < n; k++) {
        const t = d === 0 ? k : n - 1 - k;
        const gates = new Float64Array(4 * h);
        for (let o = 0; o < 4 * h; o++) {
          let v = (bih[o] as number) + (bhh[o] as number);
          for (let i = 0; i < inF; i++) v += (wih[o * inF + i] as number) * (x[t * inF + i] as number);
          for (let i = 0; i < h; i++) v += (whh[o * h + i] as number) * (hs[i] as number);
          gates[o] = v;
        }
        const hn = new Float64Array(h);
        const cn = new Float64Array(h);
        for (let j = 0; j < h; j++) {
          const ig = sig(gates[j] as number);
          const fg = sig(gates[h + j] as number);
          const gg = Math.tanh(gates[2 * h + j] as number);
          const og = sig(gates[3 * h + j] as number);
          cn[j] = fg * (cs[j] as number) + ig * gg;
          hn[j] = og * Math.tanh(cn[j] as number);
          out[t * 2 * h + d * h + j] = hn[j] as number;
        }
        hs = hn;
        cs = cn;
      }
    }
    x = out;
  }
  const m = reluA(lin(x, n, g('mlp_head.0.weight'), g('mlp_head.0.bias'), 2 * h));
  return lin(m, n, g('mlp_head.2.weight'), g('mlp_head.2.bias'), D);
}

const f64 = (params: ReadonlyMap<string, TensorData>): P =>
  new Map([...params].map(([k, t]) => [k, Float64Array.from(t.data as Float32Array)]));

describe.each([
  ['MLP', makePTuningConfig({ numVirtualTokens: 3, encoderHiddenSize: 8 })],
  [
    'LSTM, 2 layers',
    makePTuningConfig({ numVirtualTokens: 3, encoder: 'LSTM', encoderHiddenSize: 5, encoderNumLayers: 2 }),
  ],
])('P-tuning prompt encoder (%s)', (_name, config) => {
  it('output and gradients equal the float64 reference (output 1e-5, directional derivative 1e-4 relative)', async () => {
    const base = await loadBase('tiny-qwen2');
    const applied = applyPTuning(base, config, { seed: 4 });
    const s = pTuningShape(base, config);
    const random = seededRandom(11);
    const R = Float32Array.from({ length: s.n * s.D }, () => 2 * random() - 1);

    // graph: out [n, D] and loss = Σ out ⊙ R
    const b = new GraphBuilder('p-tuning-encoder');
    const out = buildPromptEncoder(b, config, s, initializerGetter(b, applied.params, true), {
      training: false,
    });
    const r = b.initializer('R', { dtype: 'float32', dims: [s.n, s.D], data: R });
    b.output(out, 'out');
    b.output(reduceSum(b, mul(b, out, r), [], false), 'loss');
    const wrt = [...applied.params.keys()];
    const { graph, gradients } = buildGradientGraph(b.build(), { loss: 'loss', wrt });
    const res = await runGraph(graph, Object.fromEntries(applied.params), [
      'out',
      ...wrt.map((k) => gradients[k] as string),
    ]);

    const ref = refEncoder(config, s, f64(applied.params));
    const got = res.out?.data as Float32Array;
    let worst = 0;
    let scale = 0;
    for (let i = 0; i < ref.length; i++) {
      worst = Math.max(worst, Math.abs((got[i] as number) - (ref[i] as number)));
      scale = Math.max(scale, Math.abs(ref[i] as number));
    }
    expect(worst / scale).toBeLessThan(1e-5);

    // central differences of the float64 reference along one random direction of all tensors
    const dir = new Map(
      [...applied.params].map(([k, t]) => [k, Float64Array.from(t.data as Float32Array, () => 2 * random() - 1)]),
    );
    const lossAt = (eps: number): number => {
      const p = f64(applied.params);
      for (const [k, v] of p) {
        const d = dir.get(k) as Float64Array;
        for (let i = 0; i < v.length; i++) v[i] = (v[i] as number) + eps * (d[i] as number);
      }
      return refEncoder(config, s, p).reduce((a, v, i) => a + v * (R[i] as number), 0);
    };
    const eps = 1e-5;
    const fd = (lossAt(eps) - lossAt(-eps)) / (2 * eps);
    let analytic = 0;
    for (const k of wrt) {
      const gk = res[gradients[k] as string]?.data as Float32Array;
      const d = dir.get(k) as Float64Array;
      for (let i = 0; i < d.length; i++) analytic += (gk[i] as number) * (d[i] as number);
    }
    expect(Math.abs(analytic - fd) / Math.abs(fd)).toBeLessThan(1e-4);
  });
});

describe('P-tuning config', () => {
  it('refuses bad settings and a PEFT-only adapter for resuming, naming the field', async () => {
    expect(() => makePTuningConfig({ encoder: 'GRU' as 'LSTM' })).toThrow(
      /encoder_reparameterization_type must be MLP or LSTM/,
    );
    expect(() => makePTuningConfig({ encoderDropout: 1 })).toThrow(/encoder_dropout must be in \[0, 1\)/);
    const base = await loadBase('tiny-qwen2');
    const init = new Map([
      ['prompt_embeddings', { dtype: 'float32', dims: [3, 64], data: new Float32Array(192) } as TensorData],
    ]);
    expect(() => applyPTuning(base, makePTuningConfig({ numVirtualTokens: 3 }), { seed: 1, init })).toThrow(PeftError);
  });

  it('encoder_dropout: fed masks on the input of LSTM layers 1.. in the training graph only, drawn per micro-step', async () => {
    const base = await loadBase('tiny-qwen2');
    const c = makePTuningConfig({
      numVirtualTokens: 2,
      encoder: 'LSTM',
      encoderHiddenSize: 4,
      encoderNumLayers: 3,
      encoderDropout: 0.25,
    });
    const a = applyPTuning(base, c, { seed: 1 });
    const masks = (training: boolean) =>
      a
        .buildGraph('loss', { training })
        .inputs.map((i) => i.name)
        .filter((n) => n.startsWith('p_tuning_dropout_mask:'));
    expect(masks(true)).toEqual(['p_tuning_dropout_mask:1', 'p_tuning_dropout_mask:2']);
    expect(masks(false)).toEqual([]);
    const f0 = a.stepFeeds?.(0, 8) ?? {};
    const again = applyPTuning(base, c, { seed: 1 }).stepFeeds?.(0, 8) ?? {};
    const f1 = a.stepFeeds?.(1, 8) ?? {};
    const m0 = f0['p_tuning_dropout_mask:1']?.data as Float32Array;
    expect(f0['p_tuning_dropout_mask:1']?.dims).toEqual([2, 8]);
    expect(m0).toEqual(again['p_tuning_dropout_mask:1']?.data);
    expect(m0).not.toEqual(f1['p_tuning_dropout_mask:1']?.data);
    expect([...m0].every((v) => v === 0 || Math.abs(v - 1 / 0.75) < 1e-6)).toBe(true);
  });
});
