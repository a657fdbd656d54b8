// Gradients of the causal-LM loss with respect to LoRA A and B (the model graph differentiated by the
// autodiff) match PEFT + PyTorch autograd from the fixtures, 1e-4 relative L2 per tensor.

import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildGradientGraph } from '../autodiff/index.js';
import { loadSafetensors } from '../io/safetensors-read.js';
import { releaseAllSessions, runGraph } from '../onnx/runtime.js';
import { CAUSAL_LM_NAMES } from './causal-lm.js';
import { loadCausalLM } from './load.js';
import { FIXTURES, fixtureBatch, readJson } from './testing.js';

afterAll(releaseAllSessions);

const CASES: [adapter: string, model: string][] = [
  ['tiny-qwen2-lora', 'tiny-qwen2'],
  ['tiny-qwen2-lora-zeroB', 'tiny-qwen2'],
  ['tiny-gpt2-lora', 'tiny-gpt2'],
];

describe.each(CASES)('%s gradients', (adapter, model) => {
  it('match PEFT within 1e-4 relative L2 per tensor', async () => {
    const lm = await loadCausalLM(join(FIXTURES, 'models', model), {
      adapterDir: join(FIXTURES, 'adapters', adapter),
      adapterTrainable: true,
    });
    const data = await fixtureBatch(join(FIXTURES, 'data', 'tiny-chat.jsonl'));
    const expected = await loadSafetensors(join(FIXTURES, 'expected', `${adapter}.grads.safetensors`));
    const { loss: expectedLoss } = await readJson<{ loss: number }>(join(FIXTURES, 'expected', `${adapter}.loss.json`));

    const forward = lm.build('loss');
    const wrt = forward.initializers.filter((i) => i.trainable).map((i) => i.name);
    expect(wrt.sort()).toEqual([...expected.keys()].sort());
    const { graph, gradients } = buildGradientGraph(forward, { loss: CAUSAL_LM_NAMES.loss, wrt });

    // trainable initialisers are inputs of the training graph: feed the adapter's tensors
    const adapterFeeds = Object.fromEntries(wrt.map((n) => [n, lm.adapter!.tensors.get(n)!]));
    const out = await runGraph(graph, { ...data.feeds, ...adapterFeeds }, [
      CAUSAL_LM_NAMES.loss,
      ...Object.values(gradients),
    ]);
    const loss = (out.loss!.data as Float32Array)[0]!;
    expect(Math.abs(loss - expectedLoss) / expectedLoss).toBeLessThan(1e-5);

    let worst = 0;
    for (const name of wrt) {
      const got = out[gradients[name]!]!;
      const ref = expected.get(name)!;
      expect(got.dims).toEqual(ref.dims);
      const g = got.data as Float32Array;
      const r = ref.data as Float32Array;
      let diff = 0;
      let norm = 0;
      for (let i = 0; i < r.length; i++) {
        diff += (g[i]! - r[i]!) ** 2;
        norm += r[i]! ** 2;
      }
      // a zero reference (lora_A under B = 0) is compared absolutely
      const rel = norm === 0 ? Math.sqrt(diff) : Math.sqrt(diff / norm);
      worst = Math.max(worst, rel);
      expect(rel, name).toBeLessThan(1e-4);
    }
    console.log(`${adapter}: worst gradient relative L2 error ${worst.toExponential(2)} over ${wrt.length} tensors`);
  });
});
