// Hugging Face's repetition_penalty: the logit of each token already in the sequence is divided by the penalty
// when positive and multiplied when negative, before temperature/top-k/top-p and for greedy decoding too. Checked
// by hand on a row, and on the tiny Qwen2 fixture against a reference that recomputes the whole sequence without
// the KV cache and applies the rule itself.
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { streamGenerate } from '../eval/stream-generate.js';
import type { TensorData } from '../onnx/ir.js';
import { int64Tensor } from './batch.js';
import { generate } from './generate.js';
import { openModel } from './model.js';
import { applyRepetitionPenalty, selectToken } from './sampling.js';
import { floatOutput, pastKeyName, pastValueName } from './session.js';

const fixtures = resolve(dirname(fileURLToPath(import.meta.url)), '../../../../../shared/fixtures');

describe('repetition penalty', () => {
  it('divides positive and multiplies negative logits of present ids, once per distinct id', () => {
    const row = [2, -1, 0.5, 3, -4];
    const out = applyRepetitionPenalty(row, [0, 1, 1, 4, 99], 2);
    expect([...out]).toEqual([1, -2, 0.5, 3, -8]);
    expect(row).toEqual([2, -1, 0.5, 3, -4]); // the caller's row is untouched
    expect([...applyRepetitionPenalty(row, [0, 1], 1)]).toEqual(row);
    // Greedy: 3 wins unpenalised; with id 3 present and penalty 4, 3/4 = 0.75 < 2, so 0 wins.
    expect(selectToken(row, { greedy: true }, undefined, [3])).toBe(3);
    expect(selectToken(row, { greedy: true, repetitionPenalty: 4 }, undefined, [3])).toBe(0);
  });

  it('greedy generation with a penalty equals a full-recompute reference on the fixture model', async () => {
    const m = await openModel(join(fixtures, 'models/tiny-qwen2'), { threads: 1 });
    try {
      const decoder = await m.decoder();
      const prompt = [318, 85, 115, 101, 114, 58, 32, 104, 105, 10];
      const penalty = 1.8;
      const steps = 10;
      // Reference: the whole sequence through the decode graph with an empty cache, last row's logits, the
      // penalty applied here by its definition, argmax.
      const seq = [...prompt];
      const ref: number[] = [];
      for (let s = 0; s < steps; s++) {
        const feeds: Record<string, TensorData> = {
          input_ids: int64Tensor(BigInt64Array.from(seq.map(BigInt)), [1, seq.length]),
          attention_mask: int64Tensor(new BigInt64Array(seq.length).fill(1n), [1, seq.length]),
          position_ids: int64Tensor(
            BigInt64Array.from(seq, (_, i) => BigInt(i)),
            [1, seq.length],
          ),
        };
        for (let l = 0; l < decoder.layers; l++) {
          const empty = {
            dtype: 'float32' as const,
            dims: [1, decoder.kvHeads, 0, decoder.headDim],
            data: new Float32Array(0),
          };
          feeds[pastKeyName(l)] = empty;
          feeds[pastValueName(l)] = empty;
        }
        const logits = floatOutput(await decoder.session.run(feeds, ['logits']), 'logits');
        const vocab = logits.dims[2] as number;
        const row = Array.from(logits.data.subarray((seq.length - 1) * vocab, seq.length * vocab));
        for (const id of new Set(seq))
          row[id] = (row[id] as number) < 0 ? (row[id] as number) * penalty : (row[id] as number) / penalty;
        let best = 0;
        for (let i = 1; i < row.length; i++) if ((row[i] as number) > (row[best] as number)) best = i;
        ref.push(best);
        seq.push(best);
      }
      const opts = { maxNewTokens: steps, padId: 0, greedy: true, repetitionPenalty: penalty };
      const [got] = await generate(decoder, [prompt], opts);
      expect(got?.ids).toEqual(ref);
      const [plain] = await generate(decoder, [prompt], { ...opts, repetitionPenalty: 1 });
      expect(plain?.ids).not.toEqual(ref); // the penalty changes this output, so the check above means something
      const streamed: number[] = [];
      for await (const t of streamGenerate(decoder, prompt, opts)) streamed.push(t);
      expect(streamed).toEqual(ref);
      await expect(generate(decoder, [prompt], { ...opts, repetitionPenalty: 0 })).rejects.toThrow(
        /repetition penalty/,
      );
    } finally {
      await m.release();
    }
  });
});
