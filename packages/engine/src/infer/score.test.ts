import { describe, expect, it } from 'vitest';
import type { TensorData } from '../onnx/ir.js';
import { evaluateLoss, nextTokenLogProbs, type ScoringRow, scoreOptions } from './score.js';
import type { RunnableSession } from './session.js';

const V = 11;

/** A bigram "model": logits for the next token depend on the current token and position. */
function bigramLogits(token: number, pos: number): number[] {
  return Array.from({ length: V }, (_, v) => Math.sin(token * 1.7 + v * 0.9 + pos * 0.3) * 2);
}

function logSoftmax(row: number[]): number[] {
  const max = Math.max(...row);
  const lse = max + Math.log(row.reduce((a, x) => a + Math.exp(x - max), 0));
  return row.map((x) => x - lse);
}

/** Loss-mode and logits-mode graph stand-ins computing in float32, like the real graph. */
function fakeSession(mode: 'loss' | 'logits', withSum = false): RunnableSession {
  return {
    inputNames: mode === 'loss' ? ['input_ids', 'attention_mask', 'labels'] : ['input_ids', 'attention_mask'],
    outputNames: withSum ? ['loss', 'loss_sum', 'loss_tokens'] : [mode],
    async run(feeds): Promise<Record<string, TensorData>> {
      const [B, T] = feeds.input_ids!.dims as [number, number];
      const ids = feeds.input_ids!.data as BigInt64Array;
      const mask = feeds.attention_mask!.data as BigInt64Array;
      if (mode === 'logits') {
        const logits = new Float32Array(B * T * V);
        for (let i = 0; i < B * T; i++) logits.set(bigramLogits(Number(ids[i]), i % T), i * V);
        return { logits: { dtype: 'float32', dims: [B, T, V], data: logits } };
      }
      const labels = feeds.labels!.data as BigInt64Array;
      let sum = Math.fround(0);
      let n = 0;
      for (let b = 0; b < B; b++) {
        for (let t = 1; t < T; t++) {
          const label = Number(labels[b * T + t]);
          if (label === -100) continue;
          expect(mask[b * T + t]).toBe(1n);
          const lp = logSoftmax(bigramLogits(Number(ids[b * T + t - 1]), t - 1))[label]!;
          sum = Math.fround(sum - lp);
          n++;
        }
      }
      return {
        loss: { dtype: 'float32', dims: [], data: Float32Array.of(sum / n) },
        loss_sum: { dtype: 'float32', dims: [], data: Float32Array.of(sum) },
        loss_tokens: { dtype: 'int64', dims: [], data: BigInt64Array.of(BigInt(n)) },
      };
    },
  };
}

const rows: ScoringRow[] = [
  { inputIds: [1, 2, 3, 4, 5, 6], labels: [-100, -100, 3, 4, 5, 6] },
  { inputIds: [7, 8] },
  { inputIds: [9, 10, 0, 1], labels: [-100, -100, -100, -100] },
  { inputIds: [2, 2, 2, 2, 2, 2, 2, 2, 2], labels: [2, 2, -100, 2, 2, 2, -100, 2, 2] },
  { inputIds: [5] },
];

function referenceLoss(): { loss: number; tokens: number } {
  let nll = 0;
  let tokens = 0;
  for (const r of rows) {
    const labels = r.labels ?? r.inputIds;
    for (let t = 1; t < r.inputIds.length; t++) {
      if (labels[t] === -100) continue;
      nll -= logSoftmax(bigramLogits(r.inputIds[t - 1]!, t - 1))[labels[t]!]!;
      tokens++;
    }
  }
  return { loss: nll / tokens, tokens };
}

describe('evaluateLoss', () => {
  it('is the mean over every scored token, the same for any batch size', async () => {
    const ref = referenceLoss();
    expect(ref.tokens).toBe(4 + 1 + 0 + 6 + 0);
    for (const [batchSize, withSum] of [1, 2, 3, 5, 16].flatMap(
      (n) =>
        [
          [n, false],
          [n, true],
        ] as const,
    )) {
      const r = await evaluateLoss(fakeSession('loss', withSum), rows, { batchSize, padId: 0 });
      expect(r.tokens).toBe(ref.tokens);
      expect(Math.abs(r.loss - ref.loss) / ref.loss).toBeLessThan(1e-6);
      expect(r.perplexity).toBeCloseTo(Math.exp(r.loss), 10);
    }
  });

  it('rejects bad rows with their index', async () => {
    const s = fakeSession('loss');
    await expect(evaluateLoss(s, [{ inputIds: [1, 2], labels: [1] }], { padId: 0 })).rejects.toThrow(
      /row 0: labels has 1/,
    );
    await expect(
      evaluateLoss(s, [{ inputIds: [1] }, { inputIds: [1, 99] }], { padId: 0, vocabSize: V }),
    ).rejects.toThrow(/row 1: token id 99/);
    await expect(evaluateLoss(s, [{ inputIds: [1] }], { padId: 0 })).rejects.toThrow(/no row has a scored token/);
    await expect(evaluateLoss(s, rows, { padId: 0, batchSize: 0 })).rejects.toThrow(/batch size/);
  });
});

describe('option scoring', () => {
  it('sums the log-probabilities of each option given the prompt', async () => {
    const prompt = [3, 1, 4];
    const options = [[1], [5, 9, 2], [6, 5]];
    const scores = await scoreOptions(fakeSession('logits'), prompt, options, { padId: 0 });
    options.forEach((o, i) => {
      const seq = [...prompt, ...o];
      let expected = 0;
      for (let j = 0; j < o.length; j++) {
        const pos = prompt.length + j;
        expected += logSoftmax(bigramLogits(seq[pos - 1]!, pos - 1))[seq[pos]!]!;
      }
      expect(scores[i]!.logProb).toBeCloseTo(expected, 5);
      expect(scores[i]!.tokenLogProbs.length).toBe(o.length);
    });
  });

  it('gives normalised next-token distributions at each prompt end', async () => {
    const dists = await nextTokenLogProbs(fakeSession('logits'), [[1, 2, 3], [4]], { padId: 0 });
    expect(dists[1]![2]).toBeCloseTo(logSoftmax(bigramLogits(4, 0))[2]!, 5);
    expect(dists[0]![7]).toBeCloseTo(logSoftmax(bigramLogits(3, 2))[7]!, 5);
    for (const d of dists) expect(d.reduce((a, x) => a + Math.exp(x), 0)).toBeCloseTo(1, 10);
  });
});
