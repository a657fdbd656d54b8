// QLoRA base: quantized linear weights give the loss and the LoRA gradients of the float model whose weights are
// their dequantized values (an independent reference: JS dequantization + the float graph), the training graph
// stores no float copy of them and keeps no forward float weight alive for the backward, and bad settings fail
// by name.

import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildGradientGraph } from '../autodiff/index.js';
import { loadModelDir } from '../io/model-dir.js';
import { loadPeftAdapter } from '../io/peft-adapter.js';
import type { LoraAdapterConfig } from '../io/peft-config.js';
import { buildCausalLM, CAUSAL_LM_NAMES } from '../models/causal-lm.js';
import { loraExtension } from '../models/lora.js';
import { FIXTURES, fixtureBatch } from '../models/testing.js';
import type { Graph, TensorData } from '../onnx/ir.js';
import { releaseAllSessions, runGraph } from '../onnx/runtime.js';
import { QuantError } from './errors.js';
import { checkBlockSize, dequantize, quantizeInt4, quantizeInt8, quantizeModel } from './quantize.js';
import type { QuantOptions } from './types.js';

afterAll(releaseAllSessions);

function relL2(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let d = 0;
  let n = 0;
  for (let i = 0; i < b.length; i++) {
    d += ((a[i] as number) - (b[i] as number)) ** 2;
    n += (b[i] as number) ** 2;
  }
  return Math.sqrt(d / n);
}

describe('quantize / dequantize', () => {
  const t: TensorData = {
    dtype: 'float32',
    dims: [3, 64],
    data: Float32Array.from({ length: 192 }, (_, i) => Math.sin(i * 0.37) * (1 + (i % 5))),
  };
  it('int8 per output channel: error at most half a step, layouts agree', () => {
    for (const layout of ['out_in', 'in_out'] as const) {
      const q = quantizeInt8('w', t, layout);
      const back = dequantize(q);
      expect(back.dims).toEqual(t.dims);
      const d = t.data as Float32Array;
      for (let i = 0; i < d.length; i++) {
        const o = layout === 'out_in' ? Math.floor(i / 64) : i % 64;
        expect(Math.abs((back.data as Float32Array)[i]! - d[i]!)).toBeLessThanOrEqual(q.scales[o]! / 2 + 1e-6);
      }
      expect(q.outFeatures).toBe(layout === 'out_in' ? 3 : 64);
    }
  });
  it('int4 blocks: codes packed low nibble first, error at most half a step of the block', () => {
    const q = quantizeInt4('w', t, 'out_in', 32);
    expect(q.packed.length).toBe(96);
    expect(q.scales.length).toBe(3 * 2);
    const back = dequantize(q).data as Float32Array;
    const d = t.data as Float32Array;
    for (let i = 0; i < d.length; i++) {
      const s = q.scales[Math.floor(i / 64) * 2 + Math.floor((i % 64) / 32)]!;
      expect(Math.abs(back[i]! - d[i]!)).toBeLessThanOrEqual(s / 2 + 1e-6);
      const code = i & 1 ? q.packed[i >> 1]! >> 4 : q.packed[i >> 1]! & 15;
      expect(back[i]).toBe(Math.fround((code - 8) * s));
    }
  });
});

interface Setup {
  readonly model: string;
  readonly quant: QuantOptions;
}

const SETUPS: Setup[] = [
  { model: 'tiny-qwen2', quant: { mode: 'int4', blockSize: 32 } },
  { model: 'tiny-qwen2', quant: { mode: 'int8' } },
  { model: 'tiny-gpt2', quant: { mode: 'int4', blockSize: 64 } },
  { model: 'tiny-gpt2', quant: { mode: 'int8' } },
];

const ADAPTER: Record<string, string> = { 'tiny-qwen2': 'tiny-qwen2-lora', 'tiny-gpt2': 'tiny-gpt2-lora' };

describe.each(SETUPS)('$model $quant.mode', ({ model, quant }) => {
  it('loss and LoRA gradients equal the float model of the dequantized weights; no float copy kept', async () => {
    const { config, weights } = await loadModelDir(join(FIXTURES, 'models', model), { dtype: 'float32' });
    const qm = quantizeModel(config, weights, quant);
    expect(qm.quantized.size).toBe(config.family === 'gpt2' ? 8 : 14);
    expect(qm.quantBytes).toBeLessThan(qm.floatBytes / (quant.mode === 'int4' ? 6 : 3.5));
    const dequantized = new Map(qm.weights);
    for (const [n, q] of qm.quantized) dequantized.set(n, dequantize(q));

    const adapter = await loadPeftAdapter(join(FIXTURES, 'adapters', ADAPTER[model]!));
    const ext = loraExtension(adapter.config as LoraAdapterConfig, adapter.tensors, { trainable: true });
    const { feeds } = await fixtureBatch(join(FIXTURES, 'data', 'tiny-chat.jsonl'));
    const run = async (forward: Graph) => {
      const wrt = forward.initializers.filter((i) => i.trainable).map((i) => i.name);
      const { graph, gradients } = buildGradientGraph(forward, { loss: CAUSAL_LM_NAMES.loss, wrt });
      const params = Object.fromEntries(wrt.map((n) => [n, adapter.tensors.get(n)!]));
      const out = await runGraph(graph, { ...feeds, ...params }, [CAUSAL_LM_NAMES.loss, ...Object.values(gradients)]);
      return {
        graph,
        loss: (out.loss!.data as Float32Array)[0]!,
        grads: wrt.map((n) => out[gradients[n]!]!.data as Float32Array),
      };
    };
    const q = await run(buildCausalLM(config, qm.weights, { mode: 'loss', extensions: ext, quantized: qm.quantized }));
    const ref = await run(buildCausalLM(config, dequantized, { mode: 'loss', extensions: ext }));
    const base = await run(buildCausalLM(config, weights, { mode: 'loss', extensions: ext }));
    expect(Math.abs(q.loss - ref.loss) / ref.loss).toBeLessThan(1e-5);
    const worst = Math.max(...q.grads.map((g, i) => relL2(g, ref.grads[i]!)));
    expect(worst).toBeLessThan(1e-4);
    // ... and quantization is visible: the gradients differ from those on the float base
    const vsBase = Math.max(...q.grads.map((g, i) => relL2(g, base.grads[i]!)));
    expect(vsBase).toBeGreaterThan(1e-4);
    console.log(
      `${model} ${quant.mode}: loss ${q.loss.toFixed(5)} (float base ${base.loss.toFixed(5)}), gradient rel L2 vs dequantized float ${worst.toExponential(2)}, vs float base ${vsBase.toExponential(2)}`,
    );

    // no float32 initialiser shaped like a quantized weight, and no forward-computed float weight read backward
    const g = q.graph;
    const floatInits = g.initializers.filter((i) => i.tensor.dtype === 'float32' && i.tensor.dims.length === 2);
    for (const w of qm.quantized.values()) {
      expect(floatInits.some((i) => i.tensor.dims[0] === w.outFeatures && i.tensor.dims[1] === w.inFeatures)).toBe(
        false,
      );
    }
    const forwardDq = new Set(
      g.nodes.filter((n) => n.opType === 'DequantizeLinear' && !n.name.startsWith('grad')).flatMap((n) => n.outputs),
    );
    const readers = g.nodes.filter((n) => n.name.startsWith('grad') && n.inputs.some((i) => forwardDq.has(i)));
    expect(readers.map((n) => n.name)).toEqual([]);
    const ops = new Set(g.nodes.map((n) => n.opType));
    expect(ops.has(quant.mode === 'int4' ? 'MatMulNBits' : 'DequantizeLinear')).toBe(true);
  });
});

describe('bad input', () => {
  it('an int4 block size that does not divide an input dimension names the setting and what fits', async () => {
    const { config, weights } = await loadModelDir(join(FIXTURES, 'models', 'tiny-qwen2'), { dtype: 'float32' });
    const err = (() => {
      try {
        quantizeModel(config, weights, { mode: 'int4', blockSize: 128 });
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(QuantError);
    expect((err as QuantError).code).toBe('bad_block_size');
    expect((err as Error).message).toMatch(
      /quant block size 128 does not divide the input dimension 64 of 'model\.layers\.\d\.[a-z_.]+\.weight'; block sizes that fit this model: 32, 64/,
    );
    expect(() => quantizeModel(config, weights, { mode: 'int4', blockSize: 48 })).toThrow(
      /48 is not one of 32, 64, 128/,
    );
    expect(() => quantizeModel(config, weights, { mode: 'int8', blockSize: 64 })).toThrow(/int4 only/);
    expect(() => quantizeModel(config, weights, { mode: 'int2' as 'int4' })).toThrow(/use int8 or int4/);
    expect(() => checkBlockSize(32, [{ name: 'x', inFeatures: 80 }])).toThrow(/no int4 block size .* use int8/);
  });
});
