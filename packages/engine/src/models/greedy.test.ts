// The decode graph driven by a plain greedy loop (prompt, then one token per step from the KV cache)
// continues the fixtures' prompt exactly as transformers' generate did, with and without a LoRA adapter.

import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { TensorData } from '../onnx/ir.js';
import { createSession, releaseAllSessions } from '../onnx/runtime.js';
import { CAUSAL_LM_NAMES as N } from './causal-lm.js';
import { loadCausalLM } from './load.js';
import { FIXTURES, readJson } from './testing.js';

afterAll(releaseAllSessions);

const PROMPT = [318, 85, 115, 101, 114, 58, 32, 104, 105, 10, 318, 97, 115, 115, 105, 115, 116, 97, 110, 116, 10];
const row = (v: readonly number[]): TensorData => ({
  dtype: 'int64',
  dims: [1, v.length],
  data: BigInt64Array.from(v.map(BigInt)),
});

const cases = (await readdir(join(FIXTURES, 'expected', 'generate'))).filter((f) => f.endsWith('.json')).sort();

describe.each(cases)('greedy decoding: %s', (file) => {
  it('reproduces the 16 tokens token for token', async () => {
    const [model, adapter] = file.replace(/\.json$/, '').split('.') as [string, string | undefined];
    const lm = await loadCausalLM(join(FIXTURES, 'models', model), {
      ...(adapter === undefined ? {} : { adapterDir: join(FIXTURES, 'adapters', adapter) }),
    });
    const { ids: expected } = await readJson<{ ids: number[] }>(join(FIXTURES, 'expected', 'generate', file));
    const { config } = lm;
    const session = await createSession(lm.build('decode'));
    const empty: TensorData = {
      dtype: 'float32',
      dims: [1, config.numKvHeads, 0, config.headDim],
      data: new Float32Array(0),
    };
    let past: Record<string, TensorData> = {};
    for (let i = 0; i < config.numLayers; i++) past[N.pastKey(i)] = past[N.pastValue(i)] = empty;
    const out: number[] = [];
    let step = PROMPT;
    let len = 0;
    while (out.length < expected.length) {
      const res = await session.run({
        input_ids: row(step),
        attention_mask: row(Array(len + step.length).fill(1)),
        position_ids: row(step.map((_, j) => len + j)),
        ...past,
      });
      const logits = res.logits?.data as Float32Array;
      const last = logits.subarray((step.length - 1) * config.vocabSize, step.length * config.vocabSize);
      let best = 0;
      for (let v = 1; v < last.length; v++) if ((last[v] as number) > (last[best] as number)) best = v;
      out.push(best);
      len += step.length;
      step = [best];
      past = {};
      for (let i = 0; i < config.numLayers; i++) {
        past[N.pastKey(i)] = res[N.presentKey(i)] as TensorData;
        past[N.pastValue(i)] = res[N.presentValue(i)] as TensorData;
      }
    }
    await session.release();
    expect(out).toEqual(expected);
  });
});
