import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PeftError } from '../errors.js';
import { loadBase, modelPath, withTempDir } from '../testing.js';
import { applyFull } from './apply.js';
import { parseFullConfig } from './config.js';

describe('full fine-tuning', () => {
  it('trains every weight; biases, norm and LayerNorm weights get no decay', async () => {
    const gpt2 = await loadBase('tiny-gpt2');
    const a = applyFull(gpt2, {}, { seed: 0 });
    expect(a.trainable.length).toBe([...gpt2.weights.keys()].filter((k) => !/\.attn\.(masked_)?bias$/.test(k)).length);
    const noDecay = [...a.noDecay].sort();
    expect(noDecay).toContain('transformer.h.0.ln_1.weight');
    expect(noDecay).toContain('transformer.ln_f.bias');
    expect(noDecay).toContain('transformer.h.0.attn.c_attn.bias');
    expect(noDecay).not.toContain('transformer.h.0.attn.c_attn.weight');
    expect(noDecay).not.toContain('transformer.wte.weight');
    const qwen = applyFull(await loadBase('tiny-qwen2'), {}, { seed: 0 });
    expect([...qwen.noDecay].filter((n) => n.endsWith('.weight')).sort()).toEqual([
      'model.layers.0.input_layernorm.weight',
      'model.layers.0.post_attention_layernorm.weight',
      'model.layers.1.input_layernorm.weight',
      'model.layers.1.post_attention_layernorm.weight',
      'model.norm.weight',
    ]);
    expect(qwen.countParams().percent).toBe(100);
  });

  it('saves a Hugging Face model directory with config and tokenizer copied', async () => {
    const qwen = await loadBase('tiny-qwen2');
    const a = applyFull(qwen, {}, { seed: 0 });
    await withTempDir(async (dir) => {
      await a.save(dir, a.params);
      for (const f of ['config.json', 'tokenizer.json', 'tokenizer_config.json'])
        expect(await readFile(join(dir, f), 'utf8')).toBe(await readFile(join(modelPath('tiny-qwen2'), f), 'utf8'));
      const noDir = applyFull({ config: qwen.config, weights: qwen.weights }, {}, { seed: 0 });
      await expect(noDir.save(dir, noDir.params)).rejects.toThrow(PeftError);
    });
    expect(() => parseFullConfig({ r: 8 }, 'cfg')).toThrow(/takes no settings/);
  });
});
