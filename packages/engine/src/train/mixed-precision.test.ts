// Mixed-precision graphs (meant for the CUDA provider): built from the LoRA training forward, valid for
// onnxruntime, and — the CPU provider has float16 kernels for every op they use — run here: the scaled-loss
// gradients, unscaled, are those of the float32 graph to half precision. Plus dynamic loss scaling's rule.

import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildGradientGraph } from '../autodiff/index.js';
import { loadModelDir } from '../io/model-dir.js';
import { loadPeftAdapter } from '../io/peft-adapter.js';
import type { LoraAdapterConfig } from '../io/peft-config.js';
import { buildCausalLM, CAUSAL_LM_NAMES } from '../models/causal-lm.js';
import { loraExtension } from '../models/lora.js';
import { FIXTURES, fixtureBatch } from '../models/testing.js';
import type { TensorData } from '../onnx/ir.js';
import { releaseAllSessions, runGraph } from '../onnx/runtime.js';
import { buildTrainGraphs } from './graphs.js';
import { train } from './loop.js';
import { LOSS_SCALE, LossScaler, toMixedPrecision } from './mixed-precision.js';
import { adapterDir, fixtureModel, fixtureRows, localLora, relL2 } from './testing.js';

afterAll(releaseAllSessions);

describe('float16 mixed-precision training graph', () => {
  it('is built in half with float32 master weights and loss, runs on the CPU provider, matches float32', async () => {
    const { config, weights } = await loadModelDir(join(FIXTURES, 'models', 'tiny-qwen2'), { dtype: 'float32' });
    const adapter = await loadPeftAdapter(join(FIXTURES, 'adapters', 'tiny-qwen2-lora'));
    const ext = loraExtension(adapter.config as LoraAdapterConfig, adapter.tensors, { trainable: true });
    const forward = buildCausalLM(config, weights, { mode: 'loss', extensions: ext });
    const wrt = forward.initializers.filter((i) => i.trainable).map((i) => i.name);
    const logits = forward.nodes.find((n) => n.opType === 'LogSoftmax')?.inputs[0] as string;
    const { graph: half, scaledLoss } = toMixedPrecision(forward, {
      dtype: 'float16',
      logits,
      loss: CAUSAL_LM_NAMES.lossSum,
    });
    const dtypes = new Map<string, number>();
    for (const n of half.nodes)
      if (n.opType === 'FusedMatMul') {
        const d = half.values.get(n.outputs[0] as string)?.dtype as string;
        dtypes.set(d, (dtypes.get(d) ?? 0) + 1);
      }
    expect(dtypes.get('float16')).toBeGreaterThan(10); // the model's products run in half
    expect(half.initializers.filter((i) => i.trainable).every((i) => i.tensor.dtype === 'float32')).toBe(true);
    expect(half.values.get(logits)?.dtype).toBe('float16');
    expect(half.values.get(CAUSAL_LM_NAMES.lossSum)?.dtype).toBe('float32');

    const S = 1024;
    const { feeds } = await fixtureBatch(join(FIXTURES, 'data', 'tiny-chat.jsonl'));
    const params = Object.fromEntries(wrt.map((n) => [n, adapter.tensors.get(n) as TensorData]));
    const hg = buildGradientGraph(half, { loss: scaledLoss, wrt });
    const scale: TensorData = { dtype: 'float32', dims: [], data: Float32Array.from([S]) };
    const h = await runGraph(hg.graph, { ...feeds, ...params, [LOSS_SCALE]: scale });
    const fg = buildGradientGraph(forward, { loss: CAUSAL_LM_NAMES.lossSum, wrt });
    const f = await runGraph(fg.graph, { ...feeds, ...params });
    const lossH = (h[CAUSAL_LM_NAMES.lossSum]!.data as Float32Array)[0] as number;
    const lossF = (f[CAUSAL_LM_NAMES.lossSum]!.data as Float32Array)[0] as number;
    expect(Math.abs(lossH - lossF) / lossF).toBeLessThan(1e-2);
    let worst = 0;
    for (const n of wrt) {
      const g = Float32Array.from(h[hg.gradients[n] as string]?.data as Float32Array, (x) => x / S);
      expect(g.every(Number.isFinite)).toBe(true);
      worst = Math.max(worst, relL2(g, f[fg.gradients[n] as string]?.data as Float32Array));
    }
    console.log(`float16: loss ${lossH} vs float32 ${lossF}; worst LoRA gradient rel L2 ${worst.toExponential(2)}`);
    expect(worst).toBeLessThan(5e-2);
  });

  it('trains through the loop in float16 (loss falls), and builds the bfloat16 graph', async () => {
    const model = await fixtureModel('tiny-qwen2');
    const method = await localLora(adapterDir('tiny-qwen2-lora'));
    const rows = (await fixtureRows()).slice(0, 4);
    const r = await train({
      model,
      method,
      train: [...rows, ...rows, ...rows, ...rows, ...rows],
      hyperparameters: { maxSteps: 5, lr: 1e-2, batchSize: 4, shuffle: false, scheduler: 'constant' },
      precision: 'float16',
    });
    expect(r.nonFiniteSteps).toBe(0);
    expect(r.losses.at(-1)?.loss).toBeLessThan(r.losses[0]?.loss as number);
    const bf = buildTrainGraphs(model, method, { precision: 'bfloat16' });
    expect([...bf.train.values.values()].some((v) => v.dtype === 'bfloat16')).toBe(true);
    expect(bf.train.inputs.some((v) => v.name === LOSS_SCALE)).toBe(true);
  });

  it('dynamic loss scaling halves on overflow and grows after a run of finite steps', () => {
    const s = new LossScaler(1024, 3);
    expect(s.update(false)).toBe(false);
    expect(s.scale).toBe(512);
    expect([s.update(true), s.update(true), s.update(true)]).toEqual([true, true, true]);
    expect(s.scale).toBe(1024);
  });
});
