// Forward fidelity against the shared fixtures: logits and loss of each tiny model on data/tiny-chat.jsonl,
// as transformers computes them (see ../shared/fixtures/README.md).

import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadModelDir } from '../io/model-dir.js';
import { loadSafetensors } from '../io/safetensors-read.js';
import { releaseAllSessions, runGraph } from '../onnx/runtime.js';
import { buildCausalLM } from './causal-lm.js';
import { FIXTURES, fixtureBatch, maskedRelMaxError, readJson } from './testing.js';

afterAll(releaseAllSessions);

const MODELS = ['tiny-qwen2', 'tiny-qwen2-bf16', 'tiny-llama', 'tiny-gpt2'];

describe.each(MODELS)('%s matches transformers', (name) => {
  it('logits within 1e-4 of the largest magnitude, loss within 1e-5 relative', async () => {
    const { config, weights } = await loadModelDir(join(FIXTURES, 'models', name));
    const data = await fixtureBatch(join(FIXTURES, 'data', 'tiny-chat.jsonl'));
    const expected = await loadSafetensors(join(FIXTURES, 'expected', `${name}.base.logits.safetensors`));
    const { loss: expectedLoss, n_target_tokens } = await readJson<{ loss: number; n_target_tokens: number }>(
      join(FIXTURES, 'expected', `${name}.base.loss.json`),
    );

    const { input_ids, attention_mask, position_ids, labels } = data.feeds;
    const logitsGraph = buildCausalLM(config, weights, { mode: 'logits' });
    const out = await runGraph(logitsGraph, { input_ids, attention_mask, position_ids });
    const logits = out.logits!;
    expect(logits.dims).toEqual([data.batch, data.seq, config.vocabSize]);
    const ref = expected.get('logits')!;
    expect(ref.dims).toEqual(logits.dims);
    const refMask = expected.get('attention_mask')!.data as BigInt64Array;
    expect(Array.from(refMask)).toEqual(Array.from(attention_mask.data as BigInt64Array));
    const logitsErr = maskedRelMaxError(
      logits.data as Float32Array,
      ref.data as Float32Array,
      refMask,
      config.vocabSize,
    );
    console.log(`${name}: logits max error / max |logit| = ${logitsErr.toExponential(2)}`);
    expect(logitsErr).toBeLessThan(1e-4);

    const lossGraph = buildCausalLM(config, weights, { mode: 'loss' });
    const l = await runGraph(lossGraph, { input_ids, attention_mask, position_ids, labels });
    const loss = (l.loss!.data as Float32Array)[0]!;
    const lossErr = Math.abs(loss - expectedLoss) / Math.abs(expectedLoss);
    console.log(`${name}: loss ${loss} vs ${expectedLoss}, relative error ${lossErr.toExponential(2)}`);
    expect(lossErr).toBeLessThan(1e-5);
    expect(Number((l.loss_tokens!.data as BigInt64Array)[0])).toBe(n_target_tokens);
  });
});
