// Method contract tests (PEFT's tests/test_custom_models.py): every (model, method) row runs the same suite.
// A new method is a new row.

import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadModelDir } from '../io/model-dir.js';
import { loadPeftAdapter } from '../io/peft-adapter.js';
import { buildCausalLM } from '../models/causal-lm.js';
import type { TensorData } from '../onnx/ir.js';
import { releaseAllSessions, runGraph } from '../onnx/runtime.js';
import { loadBottleneck } from './adapter/state.js';
import { loadBitfit, withBitfit } from './bitfit/state.js';
import { numel } from './count.js';
import { PeftError } from './errors.js';
import { asIa3Config } from './ia3/config.js';
import { Ia3Merge } from './ia3/merge.js';
import { loadTrainedModel } from './load.js';
import { asLoraConfig } from './lora/config.js';
import { LoraMerge } from './lora/merge.js';
import { getMethod } from './registry.js';
import {
  FIXTURES,
  fixtureBatch,
  loadBase,
  maskedRelMaxError,
  modelPath,
  sgdSteps,
  snapshot,
  withTempDir,
} from './testing.js';
import type { AppliedMethod, BaseModel } from './types.js';

afterAll(releaseAllSessions);

interface Row {
  readonly model: string;
  readonly method: string;
  /** Method config in its saved field names (PEFT's for LoRA). */
  readonly config: unknown;
  /** Trainable parameter names, counted independently of the method's code. */
  readonly expectTrainable: (m: BaseModel) => string[];
  readonly lr: number;
}

const qwenLinears = (_m: BaseModel, mods: string[]) =>
  [0, 1].flatMap((l) =>
    mods.flatMap((mod) =>
      ['lora_A', 'lora_B'].map(
        (ab) =>
          `base_model.model.model.layers.${l}.${mod.endsWith('proj') && /^[qkvo]_/.test(mod) ? 'self_attn' : 'mlp'}.${mod}.${ab}.weight`,
      ),
    ),
  );

const gpt2Linears = (mods: string[], roles: string[]) =>
  [0, 1].flatMap((l) => mods.flatMap((mod) => roles.map((r) => `base_model.model.transformer.h.${l}.${mod}.${r}`)));

/** Methods that add tensors of their own (PEFT counts them on top of the base model's parameters). */
const ADDS_TENSORS = new Set(['lora', 'dora', 'ia3', 'adapter']);
/** Methods that merge into the base weights. */
const MERGES = new Set(['lora', 'dora', 'ia3']);

const ROWS: Row[] = [
  {
    model: 'tiny-qwen2',
    method: 'lora',
    config: { peft_type: 'LORA', r: 4, lora_alpha: 8, target_modules: ['q_proj', 'v_proj'] },
    expectTrainable: (m) => qwenLinears(m, ['q_proj', 'v_proj']),
    lr: 0.5,
  },
  {
    model: 'tiny-qwen2',
    method: 'full',
    config: {},
    expectTrainable: (m) => [...m.weights.keys()],
    lr: 0.05,
  },
  {
    model: 'tiny-qwen2',
    method: 'bitfit',
    config: {},
    expectTrainable: (m) => [...m.weights.keys()].filter((k) => /\.(q|k|v)_proj\.bias$/.test(k)),
    lr: 0.5,
  },
  {
    model: 'tiny-gpt2',
    method: 'lora',
    config: { peft_type: 'LORA', r: 4, lora_alpha: 8, target_modules: ['c_attn', 'c_proj', 'c_fc'] },
    expectTrainable: () =>
      [0, 1].flatMap((l) =>
        ['attn.c_attn', 'attn.c_proj', 'mlp.c_fc', 'mlp.c_proj'].flatMap((mod) =>
          ['lora_A', 'lora_B'].map((ab) => `base_model.model.transformer.h.${l}.${mod}.${ab}.weight`),
        ),
      ),
    lr: 0.5,
  },
  {
    model: 'tiny-qwen2',
    method: 'ia3',
    config: { peft_type: 'IA3' },
    expectTrainable: () =>
      [0, 1].flatMap((l) =>
        ['self_attn.k_proj', 'self_attn.v_proj', 'mlp.down_proj'].map(
          (mod) => `base_model.model.model.layers.${l}.${mod}.ia3_l`,
        ),
      ),
    lr: 0.5,
  },
  {
    model: 'tiny-gpt2',
    method: 'ia3',
    config: { peft_type: 'IA3' },
    expectTrainable: () => gpt2Linears(['attn.c_attn', 'mlp.c_proj'], ['ia3_l']),
    lr: 0.5,
  },
  {
    model: 'tiny-qwen2',
    method: 'dora',
    config: { peft_type: 'LORA', r: 4, lora_alpha: 8, target_modules: ['q_proj', 'v_proj'], use_dora: true },
    expectTrainable: (m) => [
      ...qwenLinears(m, ['q_proj', 'v_proj']),
      ...[0, 1].flatMap((l) =>
        ['q_proj', 'v_proj'].map((mod) => `base_model.model.model.layers.${l}.self_attn.${mod}.lora_magnitude_vector`),
      ),
    ],
    lr: 0.5,
  },
  {
    model: 'tiny-gpt2',
    method: 'dora',
    config: { peft_type: 'LORA', r: 4, lora_alpha: 8, target_modules: ['c_attn', 'c_fc'], use_dora: true },
    expectTrainable: () =>
      gpt2Linears(['attn.c_attn', 'mlp.c_fc'], ['lora_A.weight', 'lora_B.weight', 'lora_magnitude_vector']),
    lr: 0.5,
  },
  {
    model: 'tiny-qwen2',
    method: 'adapter',
    // Houlsby: after attention and after the feed-forward block
    config: {
      peft_type: 'TUNEMESH_BOTTLENECK_ADAPTER',
      mh_adapter: true,
      output_adapter: true,
      reduction_factor: 16,
      non_linearity: 'swish',
    },
    expectTrainable: () =>
      [0, 1].flatMap((l) =>
        ['attention_adapters', 'output_adapters'].flatMap((a) =>
          ['adapter_down.weight', 'adapter_down.bias', 'adapter_up.weight', 'adapter_up.bias'].map(
            (t) => `model.layers.${l}.${a}.${t}`,
          ),
        ),
      ),
    lr: 0.5,
  },
  {
    model: 'tiny-gpt2',
    method: 'adapter',
    // Pfeiffer: after the feed-forward block only
    config: {
      peft_type: 'TUNEMESH_BOTTLENECK_ADAPTER',
      output_adapter: true,
      reduction_factor: 8,
      non_linearity: 'relu',
    },
    expectTrainable: () =>
      [0, 1].flatMap((l) =>
        ['adapter_down.weight', 'adapter_down.bias', 'adapter_up.weight', 'adapter_up.bias'].map(
          (t) => `transformer.h.${l}.output_adapters.${t}`,
        ),
      ),
    lr: 0.5,
  },
];

/** DoRA is the lora method with use_dora; the matrix names it as a row of its own. */
const methodOf = (row: Row) => getMethod(row.method === 'dora' ? 'lora' : row.method);

/** The saved adapter merged into a fresh base, by the method's own merge. */
async function mergerFor(row: Row, base: BaseModel, dir: string): Promise<LoraMerge | Ia3Merge> {
  const adapter = await loadPeftAdapter(dir);
  return row.method === 'ia3' ? new Ia3Merge(base, adapter) : new LoraMerge(base, adapter);
}

const chat = () => fixtureBatch(join(FIXTURES, 'data', 'tiny-chat.jsonl'));

async function logits(
  graph: ReturnType<typeof buildCausalLM>,
  feeds: Record<string, TensorData>,
): Promise<Float32Array> {
  return (await runGraph(graph, feeds, ['logits'])).logits?.data as Float32Array;
}

/** Reloads what save() wrote and applies the method again from it. */
async function reload(row: Row, base: BaseModel, dir: string): Promise<AppliedMethod> {
  const method = methodOf(row);
  if (row.method === 'ia3') {
    const a = await loadPeftAdapter(dir);
    return method.apply(base, asIa3Config(a.config, dir), { seed: 99, init: a.tensors });
  }
  if (row.method === 'lora' || row.method === 'dora') {
    const a = await loadPeftAdapter(dir);
    return method.apply(base, asLoraConfig(a.config, dir), { seed: 99, init: a.tensors });
  }
  if (row.method === 'adapter') {
    const a = await loadBottleneck(dir);
    return method.apply(base, a.config, { seed: 99, init: a.tensors });
  }
  if (row.method === 'bitfit') {
    const b = await loadBitfit(dir);
    return method.apply(base, b.config, { seed: 99, init: b.tensors });
  }
  const saved = await loadModelDir(dir, { dtype: 'float32' });
  return method.apply(base, {}, { seed: 99, init: saved.weights });
}

describe.each(ROWS)('$method on $model', (row) => {
  it('trains only its own tensors, counted as PEFT counts them', async () => {
    const base = await loadBase(row.model);
    const method = methodOf(row);
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
    const c = applied.countParams();
    expect(c.trainable).toBe(trainable);
    // adapters add their tensors to PEFT's "all params"; full and BitFit train base tensors in place
    expect(c.total).toBe(ADDS_TENSORS.has(row.method) ? total + trainable : total);
    expect(c.percent).toBeCloseTo((100 * c.trainable) / c.total, 10);
  });

  it('a few SGD steps lower the loss and change only the intended tensors; save/load round-trips', async () => {
    const base = await loadBase(row.model);
    const frozenBefore = snapshot(base.weights);
    const method = methodOf(row);
    const applied = method.apply(base, method.parseConfig(row.config, 'row'), { seed: 1 });
    const before = snapshot(applied.params);
    const losses = await sgdSteps(applied, await chat(), 3, row.lr);
    expect(losses.every(Number.isFinite)).toBe(true);
    expect(losses[3]).toBeLessThan((losses[0] as number) - 1e-3);
    // every trained tensor moved (A under B = 0 moves from the second step on)
    const moved = [...applied.params].filter(
      ([k, t]) => !(t.data as Float32Array).every((v, i) => v === before.get(k)?.[i]),
    );
    expect(moved.map(([k]) => k).sort()).toEqual([...applied.params.keys()].sort());
    // frozen tensors did not (full fine-tuning trains the model's own arrays, so every tensor is a param)
    for (const [k, t] of base.weights) {
      if (applied.params.has(k) && applied.params.get(k)?.data === t.data) continue;
      expect([k, (t.data as Float32Array).every((v, i) => v === frozenBefore.get(k)?.[i])]).toEqual([k, true]);
    }

    await withTempDir(async (dir) => {
      await applied.save(dir, applied.params);
      const again = await reload(row, await loadBase(row.model), dir);
      expect([...again.params.keys()].sort()).toEqual([...applied.params.keys()].sort());
      for (const [k, t] of applied.params) expect([k, again.params.get(k)?.data]).toEqual([k, t.data]);

      // merged equals unmerged where the method merges
      const { feeds } = await chat();
      const { labels: _l, ...inputs } = feeds;
      const mask = feeds.attention_mask.data as BigInt64Array;
      const unmerged = await logits(again.buildGraph('logits'), inputs as unknown as Record<string, TensorData>);
      const fresh = await loadBase(row.model);
      let mergedWeights: ReadonlyMap<string, TensorData> | undefined;
      if (MERGES.has(row.method)) {
        const m = await mergerFor(row, fresh, dir);
        m.merge();
        mergedWeights = m.weights;
      } else if (row.method === 'adapter') {
        // not mergeable: the saved adapter applied by loadTrainedModel (what evaluation uses) stands in
        mergedWeights = undefined;
      } else if (row.method === 'bitfit') {
        mergedWeights = withBitfit(fresh.weights, (await loadBitfit(dir)).tensors, dir);
      } else {
        mergedWeights = (await loadModelDir(dir, { dtype: 'float32' })).weights;
      }
      const merged =
        mergedWeights === undefined
          ? await logits((await loadTrainedModel(modelPath(row.model), dir)).build('logits'), inputs)
          : await logits(buildCausalLM(fresh.config, mergedWeights, { mode: 'logits' }), inputs);
      expect(maskedRelMaxError(merged, unmerged, mask, fresh.config.vocabSize)).toBeLessThan(1e-4);
      // and training changed the outputs
      const baseLogits = await logits(buildCausalLM(fresh.config, fresh.weights, { mode: 'logits' }), inputs);
      expect(maskedRelMaxError(baseLogits, unmerged, mask, fresh.config.vocabSize)).toBeGreaterThan(1e-4);

      // merging is idempotent and unmerging restores the base (methods that merge)
      if (MERGES.has(row.method)) {
        const m = await mergerFor(row, fresh, dir);
        m.merge();
        const once = new Map(m.weights);
        m.merge();
        for (const [k, t] of once) expect([k, m.weights.get(k)?.data]).toEqual([k, t.data]);
        m.unmerge();
        m.unmerge();
        for (const [k, t] of fresh.weights) {
          const got = m.weights.get(k)?.data as Float32Array;
          const want = t.data as Float32Array;
          let worst = 0;
          let scale = 0;
          for (let i = 0; i < want.length; i++) {
            worst = Math.max(worst, Math.abs((got[i] as number) - (want[i] as number)));
            scale = Math.max(scale, Math.abs(want[i] as number));
          }
          expect([k, worst <= 1e-5 * Math.max(scale, 1)]).toEqual([k, true]);
        }
      }
    });
  });
});

describe('bitfit on tiny-llama', () => {
  it('is refused: the model has no bias terms; the error suggests LoRA or IA3', async () => {
    const llama = await loadBase('tiny-llama');
    const m = getMethod('bitfit');
    let err: unknown;
    try {
      m.apply(llama, m.defaults(), { seed: 1 });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(PeftError);
    expect((err as PeftError).code).toBe('nothing-to-train');
    expect((err as PeftError).message).toMatch(/LlamaForCausalLM.*no bias terms.*LoRA.*IA3/);
  });
});
