// Merging an adapter trained on a quantized base: the merged float32 model computes what the quantized base
// with the adapter computes (the update is added to the dequantized weights, not rounded back into 4 bits).

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadModelDir } from '../io/model-dir.js';
import { loadPeftAdapter } from '../io/peft-adapter.js';
import type { LoraAdapterConfig } from '../io/peft-config.js';
import { mergeAdapter } from '../merge/merge-adapter.js';
import { buildCausalLM } from '../models/causal-lm.js';
import { loraExtension } from '../models/lora.js';
import { FIXTURES, fixtureBatch } from '../models/testing.js';
import { releaseAllSessions, runGraph } from '../onnx/runtime.js';
import { quantizeModel } from './quantize.js';

afterAll(releaseAllSessions);

describe('merge into a quantized base', () => {
  it('dequantizes, merges, writes float32 and matches the quantized base with the adapter', async () => {
    const modelDir = join(FIXTURES, 'models', 'tiny-qwen2');
    const adapterDir = join(FIXTURES, 'adapters', 'tiny-qwen2-lora');
    const out = await mkdtemp(join(tmpdir(), 'tunemesh-qmerge-'));
    try {
      const r = await mergeAdapter(modelDir, adapterDir, out, { quantize: { mode: 'int4', blockSize: 32 } });
      expect(r.dequantizedToFloat32).toBe(14);
      const merged = await loadModelDir(out);
      expect([...merged.weights.values()].every((t) => t.dtype === 'float32')).toBe(true);

      const { config, weights } = await loadModelDir(modelDir, { dtype: 'float32' });
      const q = quantizeModel(config, weights, { mode: 'int4', blockSize: 32 });
      const adapter = await loadPeftAdapter(adapterDir);
      const ext = loraExtension(adapter.config as LoraAdapterConfig, adapter.tensors);
      const { feeds } = await fixtureBatch(join(FIXTURES, 'data', 'tiny-chat.jsonl'));
      const loss = async (g: ReturnType<typeof buildCausalLM>) =>
        ((await runGraph(g, feeds)).loss!.data as Float32Array)[0] as number;
      const want = await loss(
        buildCausalLM(config, q.weights, { mode: 'loss', extensions: ext, quantized: q.quantized }),
      );
      const got = await loss(buildCausalLM(merged.config, merged.weights, { mode: 'loss' }));
      expect(Math.abs(got - want) / want).toBeLessThan(1e-5);
    } finally {
      await rm(out, { recursive: true, force: true });
    }
  });
});
