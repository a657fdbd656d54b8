import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TensorData } from '../onnx/ir.js';
import { PeftFormatError } from './errors.js';
import { loadModelDir } from './model-dir.js';
import { loadPeftAdapter, savePeftAdapter } from './peft-adapter.js';
import { loraScale, matchesTargetModules, parsePeftConfig } from './peft-config.js';
import { formatPeftKey, parsePeftKey } from './peft-keys.js';
import { serializeSafetensors, writeSafetensors } from './safetensors-write.js';
import { FIXTURES } from './test-paths.js';

const ADAPTERS = join(FIXTURES, 'adapters');
let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'tm-peft-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe('fixture adapters', () => {
  it('tiny-qwen2-lora: r=4, alpha 8, all seven projections, shapes fit the base model', async () => {
    const a = await loadPeftAdapter(join(ADAPTERS, 'tiny-qwen2-lora'));
    expect(a.config).toMatchObject({
      peftType: 'LORA',
      r: 4,
      loraAlpha: 8,
      fanInFanOut: false,
      useRslora: false,
      bias: 'none',
      taskType: 'CAUSAL_LM',
    });
    if (a.config.peftType !== 'LORA') throw new Error('unreachable');
    expect(a.config.targetModules).toEqual({
      kind: 'list',
      names: ['down_proj', 'gate_proj', 'k_proj', 'o_proj', 'q_proj', 'up_proj', 'v_proj'],
    });
    expect(loraScale(a.config, 'model.layers.0.self_attn.q_proj')).toBe(2);
    expect(a.tensors.size).toBe(2 * 7 * 2);
    const base = await loadModelDir(join(FIXTURES, 'models', 'tiny-qwen2'));
    for (const [key, k] of a.keys) {
      const w = base.weights.get(`${k.module}.weight`) as TensorData;
      expect(w, key).toBeDefined();
      expect(matchesTargetModules(a.config.targetModules, k.module)).toBe(true);
      const t = a.tensors.get(key) as TensorData;
      if (k.role === 'lora_A') expect(t.dims).toEqual([4, w.dims[1]]);
      else expect(t.dims).toEqual([w.dims[0], 4]);
    }
  });

  it('tiny-qwen2-lora-zeroB has B = 0', async () => {
    const a = await loadPeftAdapter(join(ADAPTERS, 'tiny-qwen2-lora-zeroB'));
    let checked = 0;
    for (const [key, k] of a.keys) {
      if (k.role !== 'lora_B') continue;
      const data = a.tensors.get(key)?.data as Float32Array;
      expect(data.every((x) => x === 0)).toBe(true);
      checked++;
    }
    expect(checked).toBe(4);
  });

  it('tiny-gpt2-lora: fan_in_fan_out over Conv1D modules', async () => {
    const a = await loadPeftAdapter(join(ADAPTERS, 'tiny-gpt2-lora'));
    expect(a.config).toMatchObject({ peftType: 'LORA', fanInFanOut: true });
    expect(a.keys.get('base_model.model.transformer.h.0.attn.c_attn.lora_B.weight')).toEqual({
      module: 'transformer.h.0.attn.c_attn',
      role: 'lora_B',
    });
  });

  it('tiny-qwen2-ia3: output scaling [out,1], feed-forward input scaling [1,in]', async () => {
    const a = await loadPeftAdapter(join(ADAPTERS, 'tiny-qwen2-ia3'));
    expect(a.config.peftType).toBe('IA3');
    expect(a.tensors.get('base_model.model.model.layers.0.mlp.down_proj.ia3_l')?.dims).toEqual([1, 128]);
    expect(a.tensors.get('base_model.model.model.layers.0.self_attn.k_proj.ia3_l')?.dims).toEqual([32, 1]);
  });

  it('tiny-qwen2-prompt: 8 virtual tokens of width 64', async () => {
    const a = await loadPeftAdapter(join(ADAPTERS, 'tiny-qwen2-prompt'));
    expect(a.config).toMatchObject({
      peftType: 'PROMPT_TUNING',
      numVirtualTokens: 8,
      tokenDim: 64,
      numTransformerSubmodules: 1,
    });
    expect(a.tensors.get('prompt_embeddings')?.dims).toEqual([8, 64]);
  });

  it.each(['tiny-qwen2-lora', 'tiny-gpt2-lora', 'tiny-qwen2-ia3', 'tiny-qwen2-prompt'])(
    '%s saves and reloads identically',
    async (name) => {
      const a = await loadPeftAdapter(join(ADAPTERS, name));
      const out = join(tmp, `rt-${name}`);
      await savePeftAdapter(out, a);
      const b = await loadPeftAdapter(out);
      expect(b.config).toEqual({ ...a.config, extra: b.config.extra });
      expect(b.tensors).toEqual(a.tensors);
      // Every field PEFT wrote survives, with the same values.
      const orig = JSON.parse(await readFile(join(ADAPTERS, name, 'adapter_config.json'), 'utf8'));
      const saved = JSON.parse(await readFile(join(out, 'adapter_config.json'), 'utf8'));
      for (const [k, v] of Object.entries(orig)) expect(saved[k], k).toEqual(v);
    },
  );
});

describe('PEFT keys', () => {
  it('maps keys to (module, role) and back', () => {
    const cases: [string, string, string][] = [
      ['base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight', 'model.layers.0.self_attn.q_proj', 'lora_A'],
      ['base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight', 'model.layers.0.self_attn.q_proj', 'lora_B'],
      ['base_model.model.model.layers.3.mlp.down_proj.ia3_l', 'model.layers.3.mlp.down_proj', 'ia3_l'],
      ['base_model.model.model.embed_tokens.lora_embedding_A', 'model.embed_tokens', 'lora_embedding_A'],
      [
        'base_model.model.model.layers.0.self_attn.q_proj.lora_magnitude_vector',
        'model.layers.0.self_attn.q_proj',
        'lora_magnitude_vector',
      ],
      ['base_model.model.lm_head.weight', 'lm_head', 'weight'],
      ['base_model.model.model.layers.0.self_attn.q_proj.bias', 'model.layers.0.self_attn.q_proj', 'bias'],
      ['prompt_embeddings', '', 'prompt_embeddings'],
    ];
    for (const [key, module, role] of cases) {
      expect(parsePeftKey(key)).toEqual({ module, role });
      expect(formatPeftKey(module, role as never)).toBe(key);
    }
    expect(() => parsePeftKey('model.layers.0.q_proj.lora_A.weight')).toThrow(PeftFormatError);
    expect(() => parsePeftKey('base_model.model.x.lora_A.default.weight')).not.toThrow(); // parses as a module weight named "...default"
    expect(() => parsePeftKey('base_model.model..lora_A.weight')).toThrow(PeftFormatError);
  });

  it('matches target modules the way PEFT does', () => {
    const list = { kind: 'list', names: ['q_proj', 'mlp.c_proj'] } as const;
    expect(matchesTargetModules(list, 'model.layers.0.self_attn.q_proj')).toBe(true);
    expect(matchesTargetModules(list, 'model.layers.0.self_attn.xq_proj')).toBe(false);
    expect(matchesTargetModules(list, 'transformer.h.0.mlp.c_proj')).toBe(true);
    expect(matchesTargetModules(list, 'transformer.h.0.attn.c_proj')).toBe(false);
    const re = { kind: 'regex', pattern: '.*\\.(q|v)_proj' } as const;
    expect(matchesTargetModules(re, 'model.layers.0.self_attn.v_proj')).toBe(true);
    expect(matchesTargetModules(re, 'model.layers.0.self_attn.v_proj.x')).toBe(false);
    expect(matchesTargetModules({ kind: 'all-linear' }, 'lm_head', { isLinear: true, isOutputLayer: true })).toBe(
      false,
    );
    expect(matchesTargetModules({ kind: 'all-linear' }, 'model.layers.0.mlp.up_proj', { isLinear: true })).toBe(true);
  });
});

describe('malformed adapters', () => {
  const lora = { peft_type: 'LORA', r: 2, lora_alpha: 4, target_modules: ['q_proj'], task_type: 'CAUSAL_LM' };
  const codeOf = (json: unknown) => {
    try {
      parsePeftConfig(json, 'a.json');
      return 'ok';
    } catch (e) {
      expect(e).toBeInstanceOf(PeftFormatError);
      expect((e as Error).message).toContain('a.json');
      return (e as PeftFormatError).code;
    }
  };
  it('validates adapter_config.json', () => {
    expect(codeOf(lora)).toBe('ok');
    expect(codeOf({ ...lora, peft_type: 'LOHA' })).toBe('unsupported-peft-type');
    expect(codeOf({ ...lora, peft_type: undefined })).toBe('missing-field');
    expect(codeOf({ ...lora, r: 0 })).toBe('wrong-type');
    expect(codeOf({ ...lora, target_modules: '(' })).toBe('bad-target-modules');
    expect(codeOf({ ...lora, target_modules: [] })).toBe('bad-target-modules');
    expect(codeOf({ ...lora, bias: 'some' })).toBe('bad-value');
    expect(codeOf({ peft_type: 'PROMPT_TUNING' })).toBe('missing-field');
    expect(codeOf({ ...lora, target_modules: 'all-linear' })).toBe('ok');
    expect(codeOf(null)).toBe('not-object');
  });

  it('checks adapter tensors against the config', async () => {
    const dir = join(tmp, 'bad');
    const A = { dtype: 'float32', dims: [2, 8], data: new Float32Array(16) } as const;
    const B = { dtype: 'float32', dims: [8, 2], data: new Float32Array(16) } as const;
    const write = async (cfg: object, tensors: Record<string, TensorData>) => {
      await cp(join(ADAPTERS, 'tiny-qwen2-lora'), dir, { recursive: true });
      await writeFile(join(dir, 'adapter_config.json'), JSON.stringify(cfg));
      await writeSafetensors(join(dir, 'adapter_model.safetensors'), tensors);
    };
    const k = (role: string) => `base_model.model.model.layers.0.self_attn.q_proj.${role}.weight`;
    await write(lora, { [k('lora_A')]: A, [k('lora_B')]: B });
    await expect(loadPeftAdapter(dir)).resolves.toBeDefined();
    await write(lora, { [k('lora_A')]: A });
    await expect(loadPeftAdapter(dir)).rejects.toMatchObject({ code: 'unpaired-lora' });
    await write({ ...lora, r: 3 }, { [k('lora_A')]: A, [k('lora_B')]: B });
    await expect(loadPeftAdapter(dir)).rejects.toMatchObject({ code: 'bad-tensor' });
    await write({ ...lora, rank_pattern: { q_proj: 2 }, r: 3 }, { [k('lora_A')]: A, [k('lora_B')]: B });
    await expect(loadPeftAdapter(dir)).resolves.toBeDefined();
    await write(lora, { [k('lora_A')]: A, [k('lora_B')]: B, 'some.other.tensor': A });
    await expect(loadPeftAdapter(dir)).rejects.toMatchObject({ code: 'unknown-key' });
    await write(lora, { [k('lora_A')]: A, [k('lora_B')]: B, 'base_model.model.lm_head.weight': A });
    await expect(loadPeftAdapter(dir)).rejects.toMatchObject({ code: 'bad-tensor' });
    await write(
      { ...lora, modules_to_save: ['lm_head'] },
      { [k('lora_A')]: A, [k('lora_B')]: B, 'base_model.model.lm_head.weight': A },
    );
    await expect(loadPeftAdapter(dir)).resolves.toBeDefined();
    await write({ peft_type: 'PROMPT_TUNING', num_virtual_tokens: 4, token_dim: 8 }, { prompt_embeddings: A });
    await expect(loadPeftAdapter(dir)).rejects.toMatchObject({ code: 'bad-tensor' });
    await writeFile(join(dir, 'adapter_model.safetensors'), serializeSafetensors({}).subarray(0, 4));
    await expect(loadPeftAdapter(dir)).rejects.toMatchObject({ name: 'SafetensorsError', code: 'truncated' });
    await writeFile(join(dir, 'adapter_config.json'), '{');
    await expect(loadPeftAdapter(dir)).rejects.toMatchObject({ code: 'invalid-json' });
    await rm(join(dir, 'adapter_model.safetensors'));
    await expect(loadPeftAdapter(dir)).rejects.toMatchObject({ code: 'missing-weights' });
  });
});
