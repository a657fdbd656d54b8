import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { loadTokenizer } from '../data/tokenizer.js';
import { openModel } from '../infer/model.js';
import { nextTokenLogProbs } from '../infer/score.js';
import { loadModelDir } from '../io/model-dir.js';
import { TINY_ARCHS } from './config.js';
import { makeTinyModel } from './make-tiny-model.js';

const fixtures = resolve(dirname(fileURLToPath(import.meta.url)), '../../../../../shared/fixtures');
const tmp = await mkdtemp(join(tmpdir(), 'tiny-model-'));
afterAll(() => rm(tmp, { recursive: true, force: true }));

describe('makeTinyModel', () => {
  for (const arch of TINY_ARCHS) {
    it(`writes a ${arch} directory the engine's loaders accept`, async () => {
      const out = join(tmp, arch);
      const info = await makeTinyModel({ arch, out, seed: 1 });
      const model = await loadModelDir(out);
      expect(model.config.vocabSize).toBe(320);
      expect(model.config.numLayers).toBe(2);
      expect(model.config.hiddenSize).toBe(64);
      expect(model.config.tieWordEmbeddings).toBe(arch === 'qwen2' || arch === 'gpt2');
      expect(info.parameters).toBe([...model.weights.values()].reduce((a, t) => a + t.data.length, 0));
      const tok = await loadTokenizer(out);
      expect(tok.vocabSize).toBe(320);
      expect(tok.tokenId('<|endoftext|>')).toBe(317);
      expect(tok.tokenId('<|im_start|>')).toBe(318);
      expect(tok.tokenId('<|im_end|>')).toBe(319);

      // The engine builds and runs it, and the prediction is not flat: different contexts, different
      // distributions, each far from uniform.
      const m = await openModel(out, { threads: 1 });
      try {
        const [a, b] = await nextTokenLogProbs(
          await m.session('logits'),
          [tok.encode('The model'), tok.encode('hello 123')],
          { padId: 0 },
        );
        const spread = (d: Float64Array) => Math.max(...d) - Math.min(...d);
        expect(spread(a!)).toBeGreaterThan(0.1);
        expect(a!.some((x, i) => Math.abs(x - b![i]!) > 0.01)).toBe(true);
      } finally {
        await m.release();
      }
    });
  }

  it('draws weights with the documented spread, seeded', async () => {
    const a = join(tmp, 'seed-a');
    await makeTinyModel({ arch: 'qwen2', out: a, seed: 7, sizes: { hidden: 128, heads: 4, kvHeads: 1, vocab: 512 } });
    const b = join(tmp, 'seed-b');
    await makeTinyModel({ arch: 'qwen2', out: b, seed: 7, sizes: { hidden: 128, heads: 4, kvHeads: 1, vocab: 512 } });
    const c = join(tmp, 'seed-c');
    await makeTinyModel({ arch: 'qwen2', out: c, seed: 8, sizes: { hidden: 128, heads: 4, kvHeads: 1, vocab: 512 } });
    const bytes = (d: string) => readFile(join(d, 'model.safetensors'));
    expect((await bytes(a)).equals(await bytes(b))).toBe(true);
    expect((await bytes(a)).equals(await bytes(c))).toBe(false);

    const { weights, config } = await loadModelDir(a);
    expect(config.numKvHeads).toBe(1);
    const stats = (name: string) => {
      const d = weights.get(name)!.data as Float32Array;
      const mean = d.reduce((s, x) => s + x, 0) / d.length;
      const sd = Math.sqrt(d.reduce((s, x) => s + (x - mean) ** 2, 0) / d.length);
      return { mean, sd };
    };
    const emb = stats('model.embed_tokens.weight');
    expect(Math.abs(emb.mean)).toBeLessThan(0.002);
    expect(emb.sd).toBeGreaterThan(0.019);
    expect(emb.sd).toBeLessThan(0.021);
    const norm = stats('model.layers.0.input_layernorm.weight');
    expect(Math.abs(norm.mean - 1)).toBeLessThan(0.05);
    expect(norm.sd).toBeGreaterThan(0.05);
    expect(stats('model.layers.1.self_attn.k_proj.bias').sd).toBeGreaterThan(0.01);
  });

  it('rejects inconsistent sizes and unknown architectures with a typed error', async () => {
    const out = join(tmp, 'bad');
    await expect(makeTinyModel({ arch: 'qwen2', out, sizes: { hidden: 65 } })).rejects.toThrow(
      /hidden \(65\) must be divisible by heads/,
    );
    await expect(makeTinyModel({ arch: 'qwen2', out, sizes: { kvHeads: 3 } })).rejects.toThrow(/kv-heads/);
    await expect(makeTinyModel({ arch: 'llama', out, sizes: { vocab: 300 } })).rejects.toThrow(
      /vocab must be at least 320/,
    );
    await expect(makeTinyModel({ arch: 'gpt2', out, sizes: { kvHeads: 2 } })).rejects.toThrow(
      /must equal heads for gpt2/,
    );
    await expect(makeTinyModel({ arch: 'bert' as 'gpt2', out })).rejects.toMatchObject({
      name: 'TinyModelError',
      code: 'unsupported_architecture',
    });
  });
});

describe('generated tokenizer', () => {
  it('has the structure of the fixtures tokenizer.json', async () => {
    const ours = JSON.parse(await readFile(join(tmp, 'qwen2', 'tokenizer.json'), 'utf8'));
    const ref = JSON.parse(await readFile(join(fixtures, 'models/tiny-qwen2/tokenizer.json'), 'utf8'));
    expect(Object.keys(ours).sort()).toEqual(Object.keys(ref).sort());
    expect(Object.keys(ours.model).sort()).toEqual(Object.keys(ref.model).sort());
    expect(ours.added_tokens).toEqual(ref.added_tokens);
    // Same byte alphabet, same ids for the 256 bytes.
    const bytes = (v: Record<string, number>) => Object.entries(v).filter(([, id]) => id < 256);
    expect(bytes(ours.model.vocab)).toEqual(bytes(ref.model.vocab));
    expect(ours.model.merges.length).toBe(320 - 259);
  });

  it('round-trips text, keeps specials whole and renders ChatML', async () => {
    const dir = join(tmp, 'big-vocab');
    await makeTinyModel({
      arch: 'llama',
      out: dir,
      sizes: { vocab: 4096, hidden: 32, heads: 2, kvHeads: 2, intermediate: 32, layers: 1 },
    });
    const tok = await loadTokenizer(dir);
    expect(tok.vocabSize).toBe(4096);
    const text = 'The model learns the answer. Ünïcödé ✓ 2024\n\tdone';
    const ids = tok.encode(text);
    expect(tok.decode(ids)).toBe(text);
    expect(tok.encode(' the').length).toBe(1); // a frequent word is one token
    expect(ids.length).toBeLessThan(new TextEncoder().encode(text).length);
    const chat = tok.applyChatTemplate([{ role: 'user', content: 'hi' }], { addGenerationPrompt: true });
    expect(chat).toBe('<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n');
    const chatIds = tok.encode(chat);
    expect(chatIds[0]).toBe(4094);
    expect(chatIds.filter((i) => i === 4095).length).toBe(1);
    expect(tok.eosTokenId).toBe(4095);
    expect(tok.padTokenId).toBe(4093);
  });
});
