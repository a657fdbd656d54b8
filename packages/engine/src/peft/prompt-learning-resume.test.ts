// The trainer's loop with the prompt-learning methods: the loss falls, a checkpoint holds the encoder (P-tuning's
// LSTM, prefix tuning's projection) besides PEFT's prompt_embeddings, and a run stopped at a checkpoint and
// resumed from it gives the uninterrupted run's losses.

import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { releaseAllSessions } from '../onnx/runtime.js';
import { train } from '../train/loop.js';
import { fixtureRows, withTempDir } from '../train/testing.js';
import { getMethod } from './registry.js';
import { loadBase } from './testing.js';

afterAll(releaseAllSessions);

describe.each([
  [
    'p-tuning',
    { num_virtual_tokens: 3, encoder_reparameterization_type: 'LSTM', encoder_hidden_size: 8, encoder_dropout: 0.2 },
    2e-2,
  ],
  ['prefix-tuning', { num_virtual_tokens: 3, prefix_projection: true, encoder_hidden_size: 16 }, 1e-2],
  ['prompt-tuning', { num_virtual_tokens: 4, prompt_tuning_init: 'SAMPLE_VOCAB' }, 3e-2],
] as const)('%s in the training loop', (name, config, lr) => {
  it('the loss falls; stopped at step 3 and resumed equals an uninterrupted run', async () => {
    const base = await loadBase('tiny-qwen2');
    const rows = await fixtureRows();
    const m = getMethod(name);
    const cfg = m.parseConfig(config, 'test');
    const hp = { lr, maxSteps: 6, batchSize: 4, scheduler: 'constant', seed: 3, saveEvery: 3 } as const;
    await withTempDir(async (dir) => {
      const full = await train({
        model: base,
        method: m.apply(base, cfg, { seed: 5 }),
        train: rows,
        hyperparameters: hp,
        outputDir: join(dir, 'a'),
      });
      const losses = full.losses.map((l) => l.loss);
      expect(losses.at(-1) as number).toBeLessThan((losses[0] as number) - 0.01);
      const files = await readdir(join(dir, 'a', 'checkpoint-3'));
      expect(files).toEqual(expect.arrayContaining(['adapter_config.json', 'adapter_model.safetensors']));
      if (name !== 'prompt-tuning') expect(files).toContain('tunemesh_prompt_encoder.safetensors');

      const ac = new AbortController();
      await train({
        model: base,
        method: m.apply(base, cfg, { seed: 5 }),
        train: rows,
        hyperparameters: hp,
        outputDir: join(dir, 'b'),
        signal: ac.signal,
        callbacks: { onCheckpoint: (e) => e.step === 3 && ac.abort() },
      }).catch(() => undefined);
      const resumed = await train({
        model: base,
        method: m.apply(base, cfg, { seed: 5 }),
        train: rows,
        hyperparameters: hp,
        outputDir: join(dir, 'b'),
        resumeFrom: join(dir, 'b', 'checkpoint-3'),
      });
      expect(resumed.losses.map((l) => l.step)).toEqual([4, 5, 6]);
      for (const l of resumed.losses) {
        const ref = full.losses.find((x) => x.step === l.step)?.loss as number;
        expect(Math.abs(l.loss - ref)).toBeLessThanOrEqual(1e-6 * Math.abs(ref));
      }
    });
  });
});

describe('virtual tokens and GPT-2’s learned positions', () => {
  it('rows plus virtual tokens past n_positions are refused before training, naming both', async () => {
    const base = await loadBase('tiny-gpt2');
    const rows = await fixtureRows();
    const m = getMethod('prefix-tuning');
    const run = train({
      model: base,
      method: m.apply(base, m.parseConfig({ num_virtual_tokens: 100 }, 'test'), { seed: 5 }),
      train: rows,
      hyperparameters: { lr: 1e-2, maxSteps: 1, batchSize: 4 },
    });
    await expect(run).rejects.toThrow(
      /rows of up to \d+ tokens after 100 virtual tokens \(num_virtual_tokens\) exceed GPT2LMHeadModel's 128 positions; cut rows to 28 tokens/,
    );
  });
});
