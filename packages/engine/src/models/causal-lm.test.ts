// Graph structure and bad input of buildCausalLM: names, extension points, no transposed frozen weights,
// typed errors for weights that do not fit the config.

import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadModelDir } from '../io/model-dir.js';
import type { TensorData } from '../onnx/ir.js';
import { fusedMatMul, mul } from '../onnx/ops.js';
import { releaseAllSessions, runGraph } from '../onnx/runtime.js';
import { buildCausalLM } from './causal-lm.js';
import { ModelError } from './errors.js';
import { FIXTURES, fixtureBatch, readJson } from './testing.js';

afterAll(releaseAllSessions);

const load = (name: string) => loadModelDir(join(FIXTURES, 'models', name));

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ModelError);
    return (e as ModelError).code;
  }
  return undefined;
}

describe('buildCausalLM graphs', () => {
  it('names inputs and outputs as the HF ONNX exports do, per mode', async () => {
    const { config, weights } = await load('tiny-qwen2');
    const names = (mode: 'logits' | 'loss' | 'decode') => {
      const g = buildCausalLM(config, weights, { mode });
      return { inputs: g.inputs.map((v) => v.name), outputs: g.outputs.map((v) => v.name) };
    };
    expect(names('logits')).toEqual({ inputs: ['input_ids', 'attention_mask', 'position_ids'], outputs: ['logits'] });
    expect(names('loss')).toEqual({
      inputs: ['input_ids', 'attention_mask', 'position_ids', 'labels'],
      outputs: ['loss', 'loss_sum', 'loss_tokens'],
    });
    const kv = [0, 1].flatMap((i) => [`past_key_values.${i}.key`, `past_key_values.${i}.value`]);
    expect(names('decode')).toEqual({
      inputs: ['input_ids', 'attention_mask', 'position_ids', ...kv],
      outputs: ['logits', ...[0, 1].flatMap((i) => [`present.${i}.key`, `present.${i}.value`])],
    });
    const noPos = buildCausalLM(config, weights, { mode: 'logits', positionIds: false });
    expect(noPos.inputs.map((v) => v.name)).toEqual(['input_ids', 'attention_mask']);
  });

  it('never transposes a frozen weight and stores each checkpoint tensor once', async () => {
    for (const name of ['tiny-qwen2', 'tiny-llama', 'tiny-gpt2']) {
      const { config, weights } = await load(name);
      const g = buildCausalLM(config, weights, { mode: 'loss' });
      const inits = new Set(g.initializers.map((i) => i.name));
      const transposed = g.nodes.filter((n) => n.opType === 'Transpose' && inits.has(n.inputs[0]!));
      expect(transposed).toEqual([]);
      for (const [k, t] of weights) {
        expect(g.initializers.filter((i) => i.tensor === t).map((i) => i.name)).toEqual([k]);
      }
    }
  });

  it('without position_ids uses the cache positions (right padding: the fixture numbers)', async () => {
    const { config, weights } = await load('tiny-llama');
    const { feeds } = await fixtureBatch(join(FIXTURES, 'data', 'tiny-chat.jsonl'));
    const { loss: expected } = await readJson<{ loss: number }>(
      join(FIXTURES, 'expected', 'tiny-llama.base.loss.json'),
    );
    const g = buildCausalLM(config, weights, { mode: 'loss', positionIds: false });
    const out = await runGraph(g, {
      input_ids: feeds.input_ids,
      attention_mask: feeds.attention_mask,
      labels: feeds.labels,
    });
    expect(Math.abs((out.loss!.data as Float32Array)[0]! - expected) / expected).toBeLessThan(1e-5);
  });

  it('a batch without loss-carrying labels gives loss 0 and 0 tokens, not NaN', async () => {
    const { config, weights } = await load('tiny-gpt2');
    const t = (v: number[]): TensorData => ({
      dtype: 'int64',
      dims: [1, v.length],
      data: BigInt64Array.from(v.map(BigInt)),
    });
    const out = await runGraph(buildCausalLM(config, weights, { mode: 'loss' }), {
      input_ids: t([5, 6, 7]),
      attention_mask: t([1, 1, 1]),
      position_ids: t([0, 1, 2]),
      labels: t([5, -100, -100]), // only position 0 has a label, and no logit predicts it
    });
    expect((out.loss!.data as Float32Array)[0]).toBe(0);
    expect((out.loss_tokens!.data as BigInt64Array)[0]).toBe(0n);
  });
});

describe('extension points', () => {
  it('call linear with the checkpoint module names, in order, and honour the replacement', async () => {
    for (const [name, perLayer] of [
      [
        'tiny-qwen2',
        [
          'self_attn.q_proj',
          'self_attn.k_proj',
          'self_attn.v_proj',
          'self_attn.o_proj',
          'mlp.gate_proj',
          'mlp.up_proj',
          'mlp.down_proj',
        ],
      ],
      ['tiny-gpt2', ['attn.c_attn', 'attn.c_proj', 'mlp.c_fc', 'mlp.c_proj']],
    ] as const) {
      const { config, weights } = await load(name);
      const seen: string[] = [];
      const prefix = name === 'tiny-gpt2' ? 'transformer.h' : 'model.layers';
      buildCausalLM(config, weights, {
        mode: 'logits',
        extensions: {
          linear: (_b, n, _x, base, module) => {
            seen.push(n);
            expect(module.name).toBe(n);
            expect(module.layout).toBe(name === 'tiny-gpt2' && n !== 'lm_head' ? 'in_out' : 'out_in');
            return base;
          },
        },
      });
      expect(seen).toEqual([...[0, 1].flatMap((i) => perLayer.map((m) => `${prefix}.${i}.${m}`)), 'lm_head']);
    }
  });

  it('replacements take effect and dead base computations are pruned', async () => {
    const { config, weights } = await load('tiny-qwen2');
    const { feeds } = await fixtureBatch(join(FIXTURES, 'data', 'tiny-chat.jsonl'));
    const run = async (ext: Parameters<typeof buildCausalLM>[2]['extensions']) => {
      const g = buildCausalLM(config, weights, { mode: 'loss', ...(ext ? { extensions: ext } : {}) });
      const out = await runGraph(g, feeds);
      return { g, loss: (out.loss!.data as Float32Array)[0]! };
    };
    const base = await run(undefined);
    // recomputing lm_head as 2·(x·Wᵀ) by hand: the hook's own FusedMatMul replaces the builder's
    const doubled = await run({
      linear: (b, n, x, baseY, m) =>
        n === 'lm_head' ? fusedMatMul(b, x, m.weight, { transB: true, alpha: 2 }) : baseY,
    });
    expect(doubled.g.nodes.filter((n) => n.opType === 'FusedMatMul').length).toBe(
      base.g.nodes.filter((n) => n.opType === 'FusedMatMul').length,
    );
    expect(Math.abs(doubled.loss - base.loss)).toBeGreaterThan(1e-2);
    // identity hooks at the other points leave the loss exactly as it was
    const same = await run({
      embed: (_b, _ids, e) => e,
      attentionKV: (_b, _l, k, v) => ({ k, v }),
      blockOutput: (b, _l, h) => mul(b, h, 1),
    });
    expect(same.loss).toBe(base.loss);
  });
});

describe('bad input', () => {
  it('fails with typed errors naming the tensor or option', async () => {
    const { config, weights } = await load('tiny-qwen2');
    const without = new Map(weights);
    without.delete('model.layers.1.mlp.up_proj.weight');
    expect(codeOf(() => buildCausalLM(config, without, { mode: 'logits' }))).toBe('missing_weight');
    expect(() => buildCausalLM(config, without, { mode: 'logits' })).toThrow(/model\.layers\.1\.mlp\.up_proj\.weight/);

    const reshaped = new Map(weights);
    const t = weights.get('model.layers.0.self_attn.k_proj.weight')!;
    reshaped.set('model.layers.0.self_attn.k_proj.weight', { ...t, dims: [64, 32] });
    expect(codeOf(() => buildCausalLM(config, reshaped, { mode: 'logits' }))).toBe('weight_shape');

    const extra = new Map(weights);
    extra.set('model.layers.9.mlp.up_proj.weight', t);
    expect(codeOf(() => buildCausalLM(config, extra, { mode: 'logits' }))).toBe('unused_weight');

    const half = new Map(weights);
    half.set('model.norm.weight', { dtype: 'float16', dims: [64], data: new Uint16Array(64) });
    expect(codeOf(() => buildCausalLM(config, half, { mode: 'logits' }))).toBe('weight_dtype');

    expect(codeOf(() => buildCausalLM(config, weights, { mode: 'train' as 'loss' }))).toBe('bad_option');
    expect(codeOf(() => buildCausalLM(config, weights, { mode: 'loss', trainable: ['model.nope.weight'] }))).toBe(
      'bad_option',
    );
  });

  it('marks requested checkpoint tensors trainable', async () => {
    const { config, weights } = await load('tiny-gpt2');
    const g = buildCausalLM(config, weights, { mode: 'loss', trainable: (n) => n.endsWith('.bias') });
    const trainable = g.initializers.filter((i) => i.trainable).map((i) => i.name);
    expect(trainable.length).toBe([...weights.keys()].filter((n) => n.endsWith('.bias')).length);
  });
});
