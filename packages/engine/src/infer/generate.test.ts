import { describe, expect, it } from 'vitest';
import type { TensorData } from '../onnx/ir.js';
import { generate } from './generate.js';
import type { DecoderModel, RunnableSession } from './session.js';

const V = 17;

/** The rule the fake model follows, on an unpadded sequence: what a full recomputation would predict. */
function referenceNext(seq: readonly number[]): number {
  const sum = seq.reduce((a, x) => a + x, 0);
  return (sum * 3 + (seq.length - 1) * 5 + seq.length) % V;
}

function referenceGenerate(prompt: readonly number[], n: number, stop: readonly number[] = []): number[] {
  const seq = [...prompt];
  const out: number[] = [];
  while (out.length < n) {
    const t = referenceNext(seq);
    seq.push(t);
    out.push(t);
    if (stop.includes(t)) break;
  }
  return out;
}

/**
 * A decode graph whose cache holds the raw token ids (key) and whose logits need the full visible history:
 * it only reproduces referenceNext if the cache, mask and position ids are threaded through correctly.
 */
function fakeModel(calls: { newLen: number; past: number }[]): DecoderModel {
  const session: RunnableSession = {
    inputNames: ['input_ids', 'attention_mask', 'position_ids', 'past_key_values.0.key', 'past_key_values.0.value'],
    outputNames: ['logits', 'present.0.key', 'present.0.value'],
    async run(feeds) {
      const ids = feeds.input_ids!;
      const mask = feeds.attention_mask!.data as BigInt64Array;
      const pos = feeds.position_ids!.data as BigInt64Array;
      const pastK = feeds['past_key_values.0.key']!;
      const [B, n] = ids.dims as [number, number];
      const P = pastK.dims[2]!;
      calls.push({ newLen: n, past: P });
      expect(feeds.attention_mask!.dims).toEqual([B, P + n]);
      const total = P + n;
      const key = new Float32Array(B * total);
      for (let b = 0; b < B; b++) {
        for (let j = 0; j < P; j++) key[b * total + j] = (pastK.data as Float32Array)[b * P + j]!;
        for (let i = 0; i < n; i++) key[b * total + P + i] = Number((ids.data as BigInt64Array)[b * n + i]);
      }
      const logits = new Float32Array(B * n * V);
      for (let b = 0; b < B; b++) {
        for (let i = 0; i < n; i++) {
          let sum = 0;
          let count = 0;
          for (let j = 0; j <= P + i; j++) {
            if (mask[b * total + j] === 1n) {
              sum += key[b * total + j]!;
              count++;
            }
          }
          const next = (sum * 3 + Number(pos[b * n + i]) * 5 + count) % V;
          // A peaked but not one-hot distribution so sampling has something to do.
          for (let v = 0; v < V; v++) logits[(b * n + i) * V + v] = v === next ? 4 : ((v * 7) % 5) * 0.3;
        }
      }
      const present: TensorData = { dtype: 'float32', dims: [B, 1, total, 1], data: key };
      return {
        logits: { dtype: 'float32', dims: [B, n, V], data: logits },
        'present.0.key': present,
        'present.0.value': present,
      };
    },
  };
  return { session, layers: 1, kvHeads: 1, headDim: 1, kvDtype: 'float32' };
}

describe('generate', () => {
  const prompts = [[3, 1, 4, 1, 5], [9], [2, 6, 5]];

  it('matches full recomputation for each prompt in a left-padded batch, feeding one token per step', async () => {
    const calls: { newLen: number; past: number }[] = [];
    const out = await generate(fakeModel(calls), prompts, { maxNewTokens: 6, padId: 0 });
    expect(out.map((g) => g.ids)).toEqual(prompts.map((p) => referenceGenerate(p, 6)));
    expect(out.every((g) => g.finishReason === 'length')).toBe(true);
    expect(calls).toEqual([{ newLen: 5, past: 0 }, ...[5, 6, 7, 8, 9].map((past) => ({ newLen: 1, past }))]);
  });

  it('stops each sequence on its own stop token and keeps it', async () => {
    const free = prompts.map((p) => referenceGenerate(p, 8));
    const stopToken = free[0]![2]!; // row 0 stops at its third token
    const out = await generate(fakeModel([]), prompts, { maxNewTokens: 8, padId: 0, stopTokens: [stopToken] });
    out.forEach((g, i) => {
      const expected = referenceGenerate(prompts[i]!, 8, [stopToken]);
      expect(g.ids).toEqual(expected);
      expect(g.finishReason).toBe(expected.at(-1) === stopToken ? 'stop' : 'length');
    });
    expect(out[0]!.ids.length).toBeLessThanOrEqual(3);
  });

  it('ends early when every sequence has stopped', async () => {
    const calls: { newLen: number; past: number }[] = [];
    const first = referenceNext([9]);
    const out = await generate(fakeModel(calls), [[9]], { maxNewTokens: 10, padId: 0, stopTokens: [first] });
    expect(out[0]).toEqual({ ids: [first], finishReason: 'stop' });
    expect(calls.length).toBe(1);
  });

  it('samples reproducibly per seed', async () => {
    const run = (seed: number) =>
      generate(fakeModel([]), prompts, { maxNewTokens: 12, padId: 0, temperature: 1.5, topK: 8, seed });
    const a = await run(11);
    expect(await run(11)).toEqual(a);
    expect(await run(12)).not.toEqual(a);
  });

  it('refuses to run past learned positions', async () => {
    const model = { ...fakeModel([]), maxPositions: 10 };
    expect((await generate(model, [[1, 2, 3]], { maxNewTokens: 8, padId: 0 }))[0]!.ids).toHaveLength(8);
    await expect(generate(model, [[1, 2, 3]], { maxNewTokens: 9, padId: 0 })).rejects.toThrow(
      /exceeds the model's 10 positions/,
    );
  });

  it('rejects bad options and ids with a typed error', async () => {
    await expect(generate(fakeModel([]), prompts, { maxNewTokens: 0, padId: 0 })).rejects.toThrow(/max new tokens/);
    await expect(generate(fakeModel([]), [[1, 99]], { maxNewTokens: 2, padId: 0, vocabSize: V })).rejects.toThrow(
      /token id 99/,
    );
    await expect(generate(fakeModel([]), [[1]], { maxNewTokens: 2, padId: 0, topP: 2 })).rejects.toThrow(/top-p/);
  });
});
