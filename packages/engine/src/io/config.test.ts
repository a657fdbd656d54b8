import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadModelConfig, parseModelConfig } from './config.js';
import { ConfigError } from './errors.js';
import { ropeInverseFrequencies } from './rope.js';
import { FIXTURES } from './test-paths.js';

const fixtureConfig = async (m: string) =>
  JSON.parse(await readFile(join(FIXTURES, 'models', m, 'config.json'), 'utf8')) as Record<string, unknown>;

const codeOf = (json: unknown): string => {
  try {
    parseModelConfig(json, 'cfg.json');
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    expect((e as Error).message).toContain('cfg.json');
    return (e as ConfigError).code;
  }
  return 'ok';
};

describe('fixture configs', () => {
  it('tiny-qwen2: qkv bias, GQA, tied, rope_theta 1e6', async () => {
    const c = await loadModelConfig(join(FIXTURES, 'models', 'tiny-qwen2', 'config.json'));
    expect(c).toMatchObject({
      family: 'llama',
      architecture: 'Qwen2ForCausalLM',
      hiddenSize: 64,
      numLayers: 2,
      numHeads: 4,
      numKvHeads: 2,
      headDim: 16,
      intermediateSize: 128,
      vocabSize: 320,
      rmsNormEps: 1e-6,
      ropeTheta: 1e6,
      ropeScaling: null,
      qkvBias: true,
      oBias: false,
      mlpBias: false,
      tieWordEmbeddings: true,
      slidingWindow: null,
      hiddenAct: 'silu',
      bosTokenId: 317,
      eosTokenIds: [319],
      padTokenId: null,
    });
  });
  it('tiny-llama: untied, no bias, explicit head_dim', async () => {
    const c = await loadModelConfig(join(FIXTURES, 'models', 'tiny-llama', 'config.json'));
    expect(c).toMatchObject({
      architecture: 'LlamaForCausalLM',
      tieWordEmbeddings: false,
      qkvBias: false,
      oBias: false,
      headDim: 16,
      rmsNormEps: 1e-5,
      ropeTheta: 10000,
    });
  });
  it('tiny-gpt2: n_* names, gelu_new, intermediate 4x', async () => {
    const c = await loadModelConfig(join(FIXTURES, 'models', 'tiny-gpt2', 'config.json'));
    expect(c).toMatchObject({
      family: 'gpt2',
      hiddenSize: 64,
      numLayers: 2,
      numHeads: 4,
      numKvHeads: 4,
      headDim: 16,
      intermediateSize: 256,
      maxPositionEmbeddings: 128,
      hiddenAct: 'gelu_new',
      layerNormEps: 1e-5,
      tieWordEmbeddings: true,
    });
  });
});

describe('config variants', () => {
  it('DeepSeek LLM is a Llama; Mistral records its sliding window; eos may be a list', async () => {
    const base = await fixtureConfig('tiny-llama');
    expect(parseModelConfig({ ...base, eos_token_id: [1, 2] }).eosTokenIds).toEqual([1, 2]);
    const mistral = parseModelConfig({
      ...base,
      architectures: ['MistralForCausalLM'],
      model_type: 'mistral',
      sliding_window: 4096,
    });
    expect(mistral).toMatchObject({ architecture: 'MistralForCausalLM', slidingWindow: 4096, qkvBias: false });
    const noArch = { ...base };
    delete noArch.architectures;
    expect(parseModelConfig(noArch).architecture).toBe('LlamaForCausalLM');
    expect(parseModelConfig({ ...base, attention_bias: true })).toMatchObject({ qkvBias: true, oBias: true });
    const noHeadDim = { ...base };
    delete noHeadDim.head_dim;
    expect(parseModelConfig(noHeadDim).headDim).toBe(16);
    expect(parseModelConfig({ ...base, head_dim: 32 }).headDim).toBe(32);
  });

  it('reads rope scaling from rope_scaling or transformers 5 rope_parameters', async () => {
    const base = await fixtureConfig('tiny-llama');
    expect(parseModelConfig({ ...base, rope_scaling: { type: 'linear', factor: 2 } })).toMatchObject({
      ropeScaling: { type: 'linear', factor: 2 },
    });
    const v5 = parseModelConfig({
      ...base,
      rope_theta: undefined,
      rope_parameters: {
        rope_type: 'llama3',
        rope_theta: 500000,
        factor: 8,
        low_freq_factor: 1,
        high_freq_factor: 4,
        original_max_position_embeddings: 8192,
      },
    });
    expect(v5).toMatchObject({
      ropeTheta: 500000,
      ropeScaling: {
        type: 'llama3',
        factor: 8,
        lowFreqFactor: 1,
        highFreqFactor: 4,
        originalMaxPositionEmbeddings: 8192,
      },
    });
    expect(parseModelConfig({ ...base, rope_scaling: { rope_type: 'default' } })).toMatchObject({ ropeScaling: null });
  });

  it('gives each inconsistency a typed error naming the field', async () => {
    const base = await fixtureConfig('tiny-llama');
    const noHeadDim = { ...base, head_dim: undefined };
    expect(codeOf({ ...noHeadDim, hidden_size: 65 })).toBe('inconsistent');
    expect(codeOf({ ...base, num_key_value_heads: 3 })).toBe('inconsistent');
    expect(codeOf({ ...base, rope_scaling: { type: 'yarn', factor: 4 } })).toBe('unknown-rope-scaling');
    expect(codeOf({ ...base, rope_scaling: { type: 'linear' } })).toBe('missing-field');
    expect(codeOf({ ...base, hidden_size: '64' })).toBe('wrong-type');
    expect(codeOf({ ...base, num_hidden_layers: undefined })).toBe('missing-field');
    expect(codeOf({ ...base, hidden_act: 'mish' })).toBe('unsupported-activation');
    expect(codeOf({ ...base, eos_token_id: 'x' })).toBe('wrong-type');
    expect(codeOf([])).toBe('not-object');
    try {
      parseModelConfig({ ...base, architectures: ['FalconForCausalLM'] }, 'cfg.json');
      throw new Error('expected an error');
    } catch (e) {
      expect((e as ConfigError).code).toBe('unsupported-architecture');
      for (const a of [
        'FalconForCausalLM',
        'LlamaForCausalLM',
        'MistralForCausalLM',
        'Qwen2ForCausalLM',
        'GPT2LMHeadModel',
      ])
        expect((e as Error).message).toContain(a);
    }
    expect(() => parseModelConfig({ ...base, hidden_size: 'x' }, 'cfg.json')).toThrow(
      /cfg\.json: field "hidden_size" must be a positive integer, got string/,
    );
  });
});

describe('rope frequencies', () => {
  const plain = ropeInverseFrequencies(128, 500000, null);
  it('plain RoPE: theta^(-2i/d)', () => {
    expect(plain.length).toBe(64);
    expect(plain[0]).toBe(1);
    expect(plain[1]).toBeCloseTo(500000 ** (-2 / 128), 15);
  });
  it('linear divides every frequency by the factor', () => {
    const lin = ropeInverseFrequencies(128, 500000, { type: 'linear', factor: 4 });
    for (let i = 0; i < 64; i++) expect(lin[i]).toBeCloseTo((plain[i] as number) / 4, 15);
  });
  it('llama3 keeps high frequencies, slows low ones by the factor, interpolates between', () => {
    const s = {
      type: 'llama3' as const,
      factor: 8,
      lowFreqFactor: 1,
      highFreqFactor: 4,
      originalMaxPositionEmbeddings: 8192,
    };
    const l3 = ropeInverseFrequencies(128, 500000, s);
    let kept = 0;
    let slowed = 0;
    let between = 0;
    for (let i = 0; i < 64; i++) {
      const f = plain[i] as number;
      const wavelen = (2 * Math.PI) / f;
      if (wavelen < 8192 / 4) {
        expect(l3[i]).toBe(f);
        kept++;
      } else if (wavelen > 8192) {
        expect(l3[i]).toBe(f / 8);
        slowed++;
      } else {
        expect(l3[i]).toBeLessThan(f);
        expect(l3[i]).toBeGreaterThan(f / 8);
        between++;
      }
    }
    expect(kept && slowed && between).toBeGreaterThan(0);
  });
  it('dynamic leaves short sequences alone and raises the base past the original context', () => {
    const s = { type: 'dynamic' as const, factor: 2, originalMaxPositionEmbeddings: 2048 };
    expect(Array.from(ropeInverseFrequencies(128, 10000, s, 1000))).toEqual(
      Array.from(ropeInverseFrequencies(128, 10000, null)),
    );
    const long = ropeInverseFrequencies(128, 10000, s, 4096);
    const base = 10000 * ((2 * 4096) / 2048 - 1) ** (128 / 126);
    expect(long[1]).toBeCloseTo(base ** (-2 / 128), 15);
  });
});
