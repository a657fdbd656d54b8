// The method matrix rows of the prompt-learning family (contract.test.ts holds the other methods' rows): each
// row trains and lowers the loss, changes only its own tensors, saves PEFT's files and loads them back (for
// further training and for evaluation), and generates with the KV cache exactly as a cache-free recomputation.

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readDataRows } from '../data/read-rows.js';
import { generate } from '../infer/generate.js';
import { type InferenceModel, openModel } from '../infer/model.js';
import { argmax } from '../infer/sampling.js';
import { evaluateLoss, nextTokenLogProbs } from '../infer/score.js';
import { buildCausalLM } from '../models/causal-lm.js';
import type { TensorData } from '../onnx/ir.js';
import { releaseAllSessions, runGraph } from '../onnx/runtime.js';
import { numel } from './count.js';
import { PeftError } from './errors.js';
import { loadTrainedModel } from './load.js';
import { getMethod } from './registry.js';
import {
  adapterPath,
  FIXTURES,
  fixtureBatch,
  loadBase,
  maskedRelMaxError,
  modelPath,
  readJson,
  sgdSteps,
  snapshot,
  withTempDir,
} from './testing.js';
import type { AppliedMethod, BaseModel } from './types.js';
import { ENCODER_FILE, loadPromptLearning } from './virtual-tokens.js';

const opened: InferenceModel[] = [];
afterAll(async () => {
  await Promise.all(opened.map((m) => m.release()));
  await releaseAllSessions();
});

interface Row {
  readonly name: string;
  readonly model: string;
  readonly method: 'prompt-tuning' | 'p-tuning' | 'prefix-tuning';
  readonly config: Record<string, unknown>;
  readonly expectTrainable: (m: BaseModel) => string[];
  readonly lr: number;
}

const lstm = (layers: number) =>
  Array.from({ length: layers }, (_, l) =>
    ['', '_reverse'].flatMap((s) =>
      ['weight_ih', 'weight_hh', 'bias_ih', 'bias_hh'].map((w) => `prompt_encoder.default.lstm_head.${w}_l${l}${s}`),
    ),
  ).flat();

const ROWS: Row[] = [
  {
    name: 'prompt tuning (RANDOM)',
    model: 'tiny-qwen2',
    method: 'prompt-tuning',
    config: { peft_type: 'PROMPT_TUNING', num_virtual_tokens: 6 },
    expectTrainable: () => ['prompt_embeddings'],
    lr: 1,
  },
  {
    name: 'P-tuning (MLP)',
    model: 'tiny-gpt2',
    method: 'p-tuning',
    config: { peft_type: 'P_TUNING', num_virtual_tokens: 5, encoder_hidden_size: 32 },
    expectTrainable: () => [
      'prompt_encoder.default.embedding.weight',
      ...[0, 2, 4].flatMap((i) => ['weight', 'bias'].map((w) => `prompt_encoder.default.mlp_head.${i}.${w}`)),
    ],
    lr: 0.5,
  },
  {
    name: 'P-tuning (LSTM)',
    model: 'tiny-qwen2',
    method: 'p-tuning',
    config: {
      peft_type: 'P_TUNING',
      num_virtual_tokens: 4,
      encoder_reparameterization_type: 'LSTM',
      encoder_hidden_size: 16,
      encoder_num_layers: 2,
    },
    expectTrainable: () => [
      'prompt_encoder.default.embedding.weight',
      ...lstm(2),
      ...[0, 2].flatMap((i) => ['weight', 'bias'].map((w) => `prompt_encoder.default.mlp_head.${i}.${w}`)),
    ],
    lr: 0.5,
  },
  {
    name: 'prefix tuning',
    model: 'tiny-qwen2',
    method: 'prefix-tuning',
    config: { peft_type: 'PREFIX_TUNING', num_virtual_tokens: 5 },
    expectTrainable: () => ['prefix_encoder.default.embedding.weight'],
    lr: 0.5,
  },
  {
    name: 'prefix tuning (prefix_projection)',
    model: 'tiny-gpt2',
    method: 'prefix-tuning',
    config: { peft_type: 'PREFIX_TUNING', num_virtual_tokens: 4, prefix_projection: true, encoder_hidden_size: 24 },
    expectTrainable: () => [
      'prefix_encoder.default.embedding.weight',
      ...[0, 2].flatMap((i) => ['weight', 'bias'].map((w) => `prefix_encoder.default.transform.${i}.${w}`)),
    ],
    lr: 0.2,
  },
];

const chat = () => fixtureBatch(join(FIXTURES, 'data', 'tiny-chat.jsonl'));

async function logits(
  graph: ReturnType<typeof buildCausalLM>,
  feeds: Record<string, TensorData>,
): Promise<Float32Array> {
  return (await runGraph(graph, feeds, ['logits'])).logits?.data as Float32Array;
}

async function reload(row: Row, base: BaseModel, dir: string): Promise<AppliedMethod> {
  const method = getMethod(row.method);
  const saved = await loadPromptLearning(dir);
  const json = JSON.parse(await readFile(join(dir, 'adapter_config.json'), 'utf8'));
  return method.apply(base, method.parseConfig(json, dir), { seed: 99, init: saved.tensors });
}

async function open(model: string, adapterDir: string): Promise<InferenceModel> {
  const m = await openModel(modelPath(model), { threads: 1, adapterDir });
  opened.push(m);
  return m;
}

const PROMPT = [318, 85, 115, 101, 114, 58, 32, 104, 105, 10, 318, 97, 115, 115, 105, 115, 116, 97, 110, 116, 10];
const SHORT = [318, 97, 115, 115, 105];

/** Greedy generation with the KV cache (a left-padded batch of two) equals recomputing each sequence from scratch. */
async function cachedEqualsCacheFree(m: InferenceModel, steps = 6): Promise<void> {
  const gens = await generate(await m.decoder(), [PROMPT, SHORT], { maxNewTokens: steps, padId: 0 });
  const session = await m.session('logits');
  for (const [i, prompt] of [PROMPT, SHORT].entries()) {
    const seq = [...prompt];
    for (let s = 0; s < steps; s++) {
      const [dist] = await nextTokenLogProbs(session, [seq], { padId: 0 });
      if (dist === undefined) throw new Error('no distribution');
      seq.push(argmax(dist));
    }
    expect(seq.slice(prompt.length)).toEqual(gens[i]?.ids);
  }
}

describe.each(ROWS)('$name on $model', (row) => {
  it('trains only its own tensors, counted as PEFT counts them', async () => {
    const base = await loadBase(row.model);
    const method = getMethod(row.method);
    const applied = method.apply(base, method.parseConfig(row.config, 'row'), { seed: 1 });
    const expected = row.expectTrainable(base).sort();
    expect([...applied.params.keys()].sort()).toEqual(expected);
    const graph = applied.buildGraph('loss');
    expect(
      graph.initializers
        .filter((i) => i.trainable)
        .map((i) => i.name)
        .sort(),
    ).toEqual(expected);
    const total = [...base.weights.values()].reduce((a, t) => a + numel(t), 0);
    const trainable = expected.reduce((a, k) => a + numel(applied.params.get(k) as TensorData), 0);
    expect(applied.countParams()).toMatchObject({ trainable, total: total + trainable });
  });

  it('SGD lowers the loss, moves only its tensors; saved files load back for training, evaluation and cached generation', async () => {
    const base = await loadBase(row.model);
    const frozen = snapshot(base.weights);
    const method = getMethod(row.method);
    const applied = method.apply(base, method.parseConfig(row.config, 'row'), { seed: 1 });
    const before = snapshot(applied.params);
    const batch = await chat();
    const losses = await sgdSteps(applied, batch, 3, row.lr);
    expect(losses.every(Number.isFinite)).toBe(true);
    expect(losses[3]).toBeLessThan((losses[0] as number) - 1e-3);
    const moved = [...applied.params].filter(
      ([k, t]) => !(t.data as Float32Array).every((v, i) => v === before.get(k)?.[i]),
    );
    expect(moved.map(([k]) => k).sort()).toEqual([...applied.params.keys()].sort());
    for (const [k, t] of base.weights)
      expect([k, (t.data as Float32Array).every((v, i) => v === frozen.get(k)?.[i])]).toEqual([k, true]);

    await withTempDir(async (dir) => {
      await applied.save(dir, applied.params);
      const json = JSON.parse(await readFile(join(dir, 'adapter_config.json'), 'utf8'));
      expect(json.peft_type).toBe(row.config.peft_type);
      expect(json.num_virtual_tokens).toBe(row.config.num_virtual_tokens);
      const saved = await loadPromptLearning(dir, row.config.peft_type as 'P_TUNING');
      expect(saved.adapter.tensors.get('prompt_embeddings')?.dims[0]).toBe(row.config.num_virtual_tokens);
      expect(saved.hasEncoder).toBe(row.method === 'p-tuning' || row.config.prefix_projection === true);
      // training resumes from exactly the trained tensors
      const again = await reload(row, await loadBase(row.model), dir);
      for (const [k, t] of applied.params) expect([k, again.params.get(k)?.data]).toEqual([k, t.data]);
      // evaluation reads PEFT's prompt_embeddings alone and gives the trained model's logits
      const { labels: _l, ...inputs } = batch.feeds;
      const mask = batch.feeds.attention_mask.data as BigInt64Array;
      const trained = await logits(applied.buildGraph('logits'), inputs);
      const lm = await loadTrainedModel(modelPath(row.model), dir);
      const loaded = await logits(lm.build('logits'), inputs);
      expect(maskedRelMaxError(loaded, trained, mask, base.config.vocabSize)).toBeLessThan(1e-4);
      const baseLogits = await logits(buildCausalLM(base.config, base.weights, { mode: 'logits' }), inputs);
      expect(maskedRelMaxError(baseLogits, trained, mask, base.config.vocabSize)).toBeGreaterThan(1e-4);
      await cachedEqualsCacheFree(await open(row.model, dir));
    });
  });
});

describe('prompt learning: PEFT fixture and bad input', () => {
  it('the PEFT prompt-tuning fixture through openModel: loss equals PEFT’s; cached generation equals cache-free', async () => {
    const m = await open('tiny-qwen2', adapterPath('tiny-qwen2-prompt'));
    const rows = (await readDataRows(join(FIXTURES, 'data/tiny-chat.jsonl'))).map((r) => {
      if (r.format !== 'pretokenized') throw new Error('fixture rows are pre-tokenised');
      return { inputIds: r.input_ids, ...(r.labels && { labels: r.labels }) };
    });
    const ref = await readJson<{ loss: number }>(join(FIXTURES, 'expected', 'tiny-qwen2-prompt.loss.json'));
    const r = await evaluateLoss(await m.session('loss'), rows, { batchSize: 4, padId: 0 });
    expect(Math.abs(r.loss - ref.loss) / ref.loss).toBeLessThan(1e-5);
    await cachedEqualsCacheFree(m);
  });

  it('virtual tokens that overflow GPT-2’s positions are refused, naming the setting and the limit', async () => {
    const gpt2 = await loadBase('tiny-gpt2');
    for (const method of ['prompt-tuning', 'p-tuning', 'prefix-tuning']) {
      const m = getMethod(method);
      let err: unknown;
      try {
        m.apply(gpt2, m.parseConfig({ num_virtual_tokens: 128 }, 'x'), { seed: 1 });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(PeftError);
      expect((err as Error).message).toMatch(/num_virtual_tokens 128 overflows .*128 positions.*below 128/);
    }
  });

  it('on GPT-2 the virtual tokens take positions: fewer left for the prompt, generation past them is refused', async () => {
    const gpt2 = await loadBase('tiny-gpt2');
    const m = getMethod('prefix-tuning');
    const prefix = m.apply(gpt2, m.parseConfig({ num_virtual_tokens: 4 }, 'x'), { seed: 1 });
    await withTempDir(async (dir) => {
      await prefix.save(dir, prefix.params);
      const model = await open('tiny-gpt2', dir);
      expect(model.maxPositions).toBe(124);
      const long = Array.from({ length: 124 }, (_, i) => 100 + (i % 50));
      await expect(generate(await model.decoder(), [long], { maxNewTokens: 2, padId: 0 })).rejects.toThrow(
        /prompt \(124 tokens\) \+ virtual tokens \(4\) \+ max new tokens \(2\) exceeds the model's 128 positions/,
      );
      expect((await generate(await model.decoder(), [long], { maxNewTokens: 1, padId: 0 }))[0]?.ids).toHaveLength(1);
    });
  });

  it('an adapter of one method loaded as another, and one made for another base, are refused', async () => {
    await expect(loadPromptLearning(adapterPath('tiny-qwen2-prompt'), 'PREFIX_TUNING')).rejects.toThrow(
      /peft_type PROMPT_TUNING; it cannot be loaded as PREFIX_TUNING/,
    );
    await expect(loadPromptLearning(adapterPath('tiny-qwen2-lora'))).rejects.toThrow(
      /LORA adapter, not a prompt-learning/,
    );
    const m = getMethod('prefix-tuning');
    expect(() => m.parseConfig({ peft_type: 'P_TUNING', num_virtual_tokens: 3 }, 'a.json')).toThrow(
      /a.json: peft_type is "P_TUNING", not PREFIX_TUNING/,
    );
    // a prefix adapter of the 2-key/value-head Qwen2 on GPT-2 (4 heads): rows of the wrong width
    const qwen = await loadBase('tiny-qwen2');
    const prefix = m.apply(qwen, m.parseConfig({ num_virtual_tokens: 3 }, 'x'), { seed: 1 });
    await withTempDir(async (dir) => {
      await prefix.save(dir, prefix.params);
      await expect(loadTrainedModel(modelPath('tiny-gpt2'), dir)).rejects.toThrow(
        /token_dim is 32, but the base model \(GPT2LMHeadModel\) has 64/,
      );
    });
    expect(ENCODER_FILE).toBe('tunemesh_prompt_encoder.safetensors');
  });
});
