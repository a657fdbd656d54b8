// Bottleneck adapters: the graph computes h + scaling·up(act(down(h))) as written out here in float64 for each
// non-linearity; Houlsby and Pfeiffer placements; the initialisation starts at (mam_adapter) or next to (bert)
// the base model; the saved form; and the bad inputs.

import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadPeftAdapter } from '../../io/peft-adapter.js';
import { buildCausalLM } from '../../models/causal-lm.js';
import { GraphBuilder } from '../../onnx/builder.js';
import type { TensorData } from '../../onnx/ir.js';
import { releaseAllSessions, runGraph } from '../../onnx/runtime.js';
import { PeftError } from '../errors.js';
import { loadTrainedModel } from '../load.js';
import { linearModules } from '../modules.js';
import {
  adapterPath,
  FIXTURES,
  fixtureBatch,
  loadBase,
  maskedRelMaxError,
  modelPath,
  withTempDir,
} from '../testing.js';
import { makeBottleneckConfig, NON_LINEARITIES, parseBottleneckConfig } from './config.js';
import { adapterKeys, adapterSites, bottleneckExtension } from './forward.js';
import { applyBottleneck } from './inject.js';
import { loadBottleneck } from './state.js';

afterAll(releaseAllSessions);

// erf by Abramowitz–Stegun 7.1.26 (|error| < 1.5e-7), enough for a 1e-5 comparison
function erf(x: number): number {
  const t = 1 / (1 + 0.3275911 * Math.abs(x));
  const y =
    1 -
    ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-x * x);
  return x >= 0 ? y : -y;
}
const ACT: Record<string, (x: number) => number> = {
  relu: (x) => Math.max(0, x),
  swish: (x) => x / (1 + Math.exp(-x)),
  silu: (x) => x / (1 + Math.exp(-x)),
  gelu: (x) => 0.5 * x * (1 + erf(x / Math.SQRT2)),
  gelu_new: (x) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3))),
  tanh: Math.tanh,
};

async function expectPeftError(f: () => unknown, code: string, re: RegExp): Promise<void> {
  let err: unknown;
  try {
    await f();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(PeftError);
  expect([(err as PeftError).code, (err as Error).message]).toEqual([code, expect.stringMatching(re)]);
}

describe('bottleneck adapters', () => {
  it.each(NON_LINEARITIES)('compute h + scaling·up(%s(down(h))) as written out in float64', async (act) => {
    const base = await loadBase('tiny-qwen2');
    const config = makeBottleneckConfig({ placement: 'pfeiffer', nonLinearity: act, reductionFactor: 8, scaling: 0.7 });
    const applied = applyBottleneck(base, config, { seed: 1 });
    const site = adapterSites(base.config, linearModules(base), config)[0];
    if (site === undefined) throw new Error('no site');
    const k = adapterKeys(site.prefix);
    const get = (key: string) => (applied.params.get(key) as TensorData).data as Float32Array;
    // non-zero biases so a missing bias shows
    for (const key of [k.downB, k.upB]) {
      const a = get(key);
      for (let i = 0; i < a.length; i++) a[i] = 0.05 * Math.sin(i);
    }
    const D = 64;
    const n = 8;
    const N = 3;
    const h = Float32Array.from({ length: N * D }, (_, i) => Math.cos(0.37 * i));
    const b = new GraphBuilder('adapter');
    const hv = b.input('h', 'float32', [N, D]);
    const ext = bottleneckExtension(config, [site], applied.params);
    const module = {
      name: site.module,
      weight: hv,
      bias: null,
      layout: 'out_in',
      inFeatures: 128,
      outFeatures: D,
    } as const;
    b.output(ext.linear?.(b, site.module, hv, hv, module) ?? hv, 'y');
    const y = (await runGraph(b.build(), { h: { dtype: 'float32', dims: [N, D], data: h } }, ['y'])).y
      ?.data as Float32Array;
    const [dw, db, uw, ub] = [get(k.downW), get(k.downB), get(k.upW), get(k.upB)];
    let worst = 0;
    for (let r = 0; r < N; r++) {
      const z = Array.from({ length: n }, (_, j) => {
        let s = db[j] as number;
        for (let i = 0; i < D; i++) s += (dw[j * D + i] as number) * (h[r * D + i] as number);
        return (ACT[act] as (x: number) => number)(s);
      });
      for (let o = 0; o < D; o++) {
        let u = ub[o] as number;
        for (let j = 0; j < n; j++) u += (uw[o * n + j] as number) * (z[j] as number);
        worst = Math.max(worst, Math.abs((y[r * D + o] as number) - ((h[r * D + o] as number) + 0.7 * u)));
      }
    }
    expect(worst).toBeLessThan(1e-5);
  });

  it('places Houlsby adapters after attention and the feed-forward block, Pfeiffer after the feed-forward block', async () => {
    const qwen = await loadBase('tiny-qwen2');
    const gpt2 = await loadBase('tiny-gpt2');
    const sites = (m: typeof qwen, placement: string, leaveOut: number[] = []) =>
      adapterSites(m.config, linearModules(m), makeBottleneckConfig({ placement, leaveOut })).map((s) => s.module);
    expect(sites(qwen, 'houlsby')).toEqual([
      'model.layers.0.self_attn.o_proj',
      'model.layers.0.mlp.down_proj',
      'model.layers.1.self_attn.o_proj',
      'model.layers.1.mlp.down_proj',
    ]);
    expect(sites(gpt2, 'pfeiffer')).toEqual(['transformer.h.0.mlp.c_proj', 'transformer.h.1.mlp.c_proj']);
    expect(sites(gpt2, 'houlsby', [0])).toEqual(['transformer.h.1.attn.c_proj', 'transformer.h.1.mlp.c_proj']);
  });

  it('starts at the base model (mam_adapter: up = 0) or next to it (bert: up ~ N(0, 0.02²))', async () => {
    const base = await loadBase('tiny-gpt2');
    const { feeds } = await fixtureBatch(join(FIXTURES, 'data', 'tiny-chat.jsonl'));
    const { labels: _l, ...inputs } = feeds;
    const mask = feeds.attention_mask.data as BigInt64Array;
    const run = async (g: ReturnType<typeof buildCausalLM>) =>
      (await runGraph(g, inputs, ['logits'])).logits?.data as Float32Array;
    const plain = await run(buildCausalLM(base.config, base.weights, { mode: 'logits' }));
    const houlsby = { ...makeBottleneckConfig({ placement: 'houlsby' }) };
    const mam = applyBottleneck(base, { ...houlsby, initWeights: 'mam_adapter' }, { seed: 1 });
    expect(maskedRelMaxError(await run(mam.buildGraph('logits')), plain, mask, 320)).toBe(0);
    const bert = applyBottleneck(base, houlsby, { seed: 1 });
    const err = maskedRelMaxError(await run(bert.buildGraph('logits')), plain, mask, 320);
    expect(err).toBeGreaterThan(0);
    expect(err).toBeLessThan(1e-2);
  });

  it('saves our peft_type with AdapterHub field names; PEFT’s loader refuses it, ours reads it back', async () => {
    const base = await loadBase('tiny-qwen2');
    const applied = applyBottleneck(base, makeBottleneckConfig({ placement: 'houlsby', reductionFactor: 4 }), {
      seed: 2,
    });
    await withTempDir(async (dir) => {
      await applied.save(dir, applied.params);
      const a = await loadBottleneck(dir);
      expect(a.config).toMatchObject({
        mhAdapter: true,
        outputAdapter: true,
        reductionFactor: 4,
        nonLinearity: 'swish',
      });
      expect(a.config.baseModelNameOrPath).toBe(modelPath('tiny-qwen2'));
      expect([...a.tensors.keys()].sort()).toEqual([...applied.params.keys()].sort());
      await expect(loadPeftAdapter(dir)).rejects.toThrow(/peft_type "TUNEMESH_BOTTLENECK_ADAPTER" is not supported/);
      const lm = await loadTrainedModel(modelPath('tiny-qwen2'), dir);
      expect(lm.build('logits').initializers.some((i) => i.name.endsWith('attention_adapters.adapter_up.weight'))).toBe(
        true,
      );
      // made for another base: Qwen2 layer names and sizes on GPT-2
      await expectPeftError(
        () => loadTrainedModel(modelPath('tiny-gpt2'), dir),
        'adapter-mismatch',
        /'transformer\.h\.0\.attention_adapters\.adapter_down\.weight' is missing.*another base model/,
      );
    });
  });

  it('refuses bad input with the setting named and what would fit', async () => {
    const qwen = await loadBase('tiny-qwen2');
    await expectPeftError(
      () => makeBottleneckConfig({ placement: 'parallel' }),
      'bad-config',
      /placement 'parallel'.*houlsby, pfeiffer/,
    );
    await expectPeftError(
      () => makeBottleneckConfig({ nonLinearity: 'elu' }),
      'bad-config',
      /non_linearity 'elu'.*relu, swish, silu, gelu, gelu_new, tanh/,
    );
    await expectPeftError(
      () => applyBottleneck(qwen, makeBottleneckConfig({ leaveOut: [5] }), { seed: 1 }),
      'unknown-target',
      /leave_out names layer 5; Qwen2ForCausalLM has layers 0..1/,
    );
    await expectPeftError(
      () => applyBottleneck(qwen, makeBottleneckConfig({ reductionFactor: 128 }), { seed: 1 }),
      'bad-config',
      /reduction_factor 128 leaves no bottleneck for hidden size 64 \(use at most 64\)/,
    );
    await expectPeftError(
      () => applyBottleneck(qwen, makeBottleneckConfig({ bottleneckSize: 48 }), { seed: 1 }),
      'bad-config',
      /bottleneck_size 48 does not divide the hidden size 64 \(e.g. 8, 16, 32, 64 do\)/,
    );
    expect(applyBottleneck(qwen, makeBottleneckConfig({ bottleneckSize: 16 }), { seed: 1 }).config).toMatchObject({
      reductionFactor: 4,
    });
    // an adapter file of another method read as a bottleneck adapter
    const lora = await loadPeftAdapter(adapterPath('tiny-qwen2-lora'));
    await expectPeftError(
      () => parseBottleneckConfig({ peft_type: lora.config.peftType, r: 4 }, 'x/adapter_config.json'),
      'bad-config',
      /peft_type is "LORA"; the adapter method reads "TUNEMESH_BOTTLENECK_ADAPTER" configs/,
    );
  });
});
