import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { iterateBatches, planBatches } from './batches.js';
import { collate } from './collate.js';
import { DataError } from './errors.js';
import { readDataRows } from './read-rows.js';
import type { PretokenizedRow } from './rows.js';

const FIXTURES = fileURLToPath(new URL('../../../../../shared/fixtures/', import.meta.url));

/** One tensor of a safetensors file, read by hand so this test does not depend on io/. */
async function safetensor(path: string, name: string): Promise<{ shape: number[]; data: BigInt64Array }> {
  const buf = await readFile(path);
  const headerLen = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + headerLen).toString('utf8')) as Record<
    string,
    { dtype: string; shape: number[]; data_offsets: [number, number] }
  >;
  const entry = header[name];
  if (entry?.dtype !== 'I64') throw new Error(`${name} is not I64`);
  const start = 8 + headerLen + entry.data_offsets[0];
  const bytes = buf.subarray(start, 8 + headerLen + entry.data_offsets[1]);
  return {
    shape: entry.shape,
    data: new BigInt64Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length)),
  };
}

describe('collate', () => {
  it('pads the tiny-chat rows as the fixtures do: right, pad 0, label -100, mask 0, positions 0..T-1', async () => {
    const rows = (await readDataRows(join(FIXTURES, 'data/tiny-chat.jsonl'))) as PretokenizedRow[];
    const b = collate(rows, { padId: 0, padSide: 'right' });
    const expected = await safetensor(join(FIXTURES, 'expected/tiny-qwen2.base.logits.safetensors'), 'attention_mask');
    expect([b.batch, b.seq]).toEqual(expected.shape);
    expect(b.attentionMask).toEqual(expected.data);
    const loss = JSON.parse(await readFile(join(FIXTURES, 'expected/tiny-qwen2.base.loss.json'), 'utf8')) as {
      n_target_tokens: number;
    };
    expect(b.labelTokens).toBe(loss.n_target_tokens); // every row's first label is masked, so no shift loss
    for (const [r, row] of rows.entries()) {
      for (let t = 0; t < b.seq; t++) {
        const at = r * b.seq + t;
        const real = t < row.input_ids.length;
        expect(b.inputIds[at]).toBe(real ? BigInt(row.input_ids[t] as number) : 0n);
        expect(b.labels[at]).toBe(real ? BigInt(row.labels?.[t] as number) : -100n);
        expect(b.positionIds[at]).toBe(BigInt(t));
      }
    }
  });

  it("pads on the left with transformers' generate positions, scores unlabelled rows, rounds the length up", () => {
    const b = collate([{ input_ids: [5, 6, 7] }, { input_ids: [8], labels: [-100] }], {
      padId: 9,
      padSide: 'left',
      padToMultipleOf: 4,
    });
    expect([b.batch, b.seq]).toEqual([2, 4]);
    expect([...b.inputIds]).toEqual([9n, 5n, 6n, 7n, 9n, 9n, 9n, 8n]);
    expect([...b.attentionMask]).toEqual([0n, 1n, 1n, 1n, 0n, 0n, 0n, 1n]);
    expect([...b.labels]).toEqual([-100n, 5n, 6n, 7n, -100n, -100n, -100n, -100n]);
    expect([...b.positionIds]).toEqual([1n, 0n, 1n, 2n, 1n, 1n, 1n, 0n]);
    expect(b.labelTokens).toBe(3);
  });

  it('rejects bad batches and options with typed errors', () => {
    expect(() => collate([], { padId: 0 })).toThrowError(DataError);
    expect(() => collate([{ input_ids: [] }], { padId: 0 })).toThrowError(/no tokens/);
    expect(() => collate([{ input_ids: [1, 2], labels: [1] }], { padId: 0 })).toThrowError(/1 labels for 2 input ids/);
    expect(() => collate([{ input_ids: [1] }], { padId: -1 })).toThrowError(/padId/);
    expect(() => collate([{ input_ids: [1] }], { padId: 0, padToMultipleOf: 0 })).toThrowError(/padToMultipleOf/);
  });
});

describe('batches', () => {
  const lengths = Array.from({ length: 23 }, (_, i) => ((i * 7) % 11) + 1);

  it('keeps file order without a seed and covers every row once', () => {
    const plan = planBatches(lengths, { batchSize: 5 });
    expect(plan.map((b) => b.length)).toEqual([5, 5, 5, 5, 3]);
    expect(plan.flat()).toEqual(lengths.map((_, i) => i));
    expect(planBatches(lengths, { batchSize: 5, dropLast: true })).toHaveLength(4);
  });

  it('shuffles deterministically by seed', () => {
    const a = planBatches(lengths, { batchSize: 4, seed: 42 }).flat();
    expect(planBatches(lengths, { batchSize: 4, seed: 42 }).flat()).toEqual(a);
    expect(planBatches(lengths, { batchSize: 4, seed: 43 }).flat()).not.toEqual(a);
    expect([...a].sort((x, y) => x - y)).toEqual(lengths.map((_, i) => i));
  });

  it('groups by length within megabatches, longest first', () => {
    const plan = planBatches(lengths, { batchSize: 3, seed: 1, groupByLength: true, megabatchFactor: 2 });
    for (let m = 0; m < plan.length; m += 2) {
      const mega = plan
        .slice(m, m + 2)
        .flat()
        .map((i) => lengths[i] as number);
      expect(mega).toEqual([...mega].sort((x, y) => y - x));
    }
    expect(plan.flat().sort((x, y) => x - y)).toEqual(lengths.map((_, i) => i));
  });

  it('iterates collated batches and resumes from a batch index', () => {
    const rows = lengths.map((n, i) => ({ input_ids: Array.from({ length: n }, () => i) }));
    const all = [...iterateBatches(rows, { batchSize: 4, seed: 7, padId: 0 })];
    const resumed = [...iterateBatches(rows, { batchSize: 4, seed: 7, padId: 0, startBatch: 2 })];
    expect(resumed).toEqual(all.slice(2));
    for (const b of all) {
      expect(b.batch).toBe(b.indices.length);
      expect(b.seq).toBe(Math.max(...b.indices.map((i) => lengths[i] as number)));
    }
    expect(() => planBatches(lengths, { batchSize: 0 })).toThrowError(DataError);
  });
});
