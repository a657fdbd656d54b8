import { ConfigError } from './errors.js';
import type { Fields } from './json-fields.js';

/** RoPE scaling variants from transformers' modeling_rope_utils that the engine implements. */
export type RopeScaling =
  | { readonly type: 'linear'; readonly factor: number }
  | { readonly type: 'dynamic'; readonly factor: number; readonly originalMaxPositionEmbeddings: number }
  | {
      readonly type: 'llama3';
      readonly factor: number;
      readonly lowFreqFactor: number;
      readonly highFreqFactor: number;
      readonly originalMaxPositionEmbeddings: number;
    };

export const SUPPORTED_ROPE_SCALING = ['default', 'linear', 'dynamic', 'llama3'] as const;

/**
 * Parse config.json's rope_scaling (or transformers 5's rope_parameters). null or type 'default' mean plain
 * RoPE. `maxPositionEmbeddings` is the config's own value, the fallback original context length.
 */
export function parseRopeScaling(f: Fields | null, file: string, maxPositionEmbeddings: number): RopeScaling | null {
  if (f === null) return null;
  const type = f.has('rope_type') ? f.string('rope_type') : f.has('type') ? f.string('type') : 'default';
  switch (type) {
    case 'default':
      return null;
    case 'linear':
      return { type, factor: factor(f) };
    case 'dynamic':
      return {
        type,
        factor: factor(f),
        originalMaxPositionEmbeddings: f.posInt('original_max_position_embeddings', maxPositionEmbeddings),
      };
    case 'llama3': {
      const lowFreqFactor = f.posNumber('low_freq_factor');
      const highFreqFactor = f.posNumber('high_freq_factor');
      if (highFreqFactor <= lowFreqFactor)
        throw f.error(
          'inconsistent',
          'high_freq_factor',
          `(${highFreqFactor}) must exceed low_freq_factor (${lowFreqFactor})`,
        );
      return {
        type,
        factor: factor(f),
        lowFreqFactor,
        highFreqFactor,
        originalMaxPositionEmbeddings: f.posInt('original_max_position_embeddings'),
      };
    }
    default:
      throw new ConfigError(
        'unknown-rope-scaling',
        `${file}: unknown rope scaling ${JSON.stringify(type)} (supported: ${SUPPORTED_ROPE_SCALING.join(', ')})`,
      );
  }
}

function factor(f: Fields): number {
  const v = f.posNumber('factor');
  if (v < 1) throw f.error('inconsistent', 'factor', `(${v}) must be at least 1`);
  return v;
}

/**
 * The RoPE inverse frequencies, one per pair of rotated dimensions (length headDim / 2), with transformers'
 * semantics for each scaling type. `seqLen` matters only for 'dynamic' (NTK scaling grows the base once the
 * sequence exceeds the original context). Computed in float64; transformers computes them in float32, so a
 * caller matching it bit for bit rounds with Math.fround.
 */
export function ropeInverseFrequencies(
  headDim: number,
  theta: number,
  scaling: RopeScaling | null,
  seqLen = 0,
): Float64Array {
  let base = theta;
  if (scaling?.type === 'dynamic') {
    const orig = scaling.originalMaxPositionEmbeddings;
    const len = Math.max(seqLen, orig);
    base = theta * ((scaling.factor * len) / orig - (scaling.factor - 1)) ** (headDim / (headDim - 2));
  }
  const half = headDim / 2;
  const inv = new Float64Array(half);
  for (let i = 0; i < half; i++) inv[i] = 1 / base ** ((2 * i) / headDim);
  if (scaling?.type === 'linear') {
    for (let i = 0; i < half; i++) inv[i] = (inv[i] as number) / scaling.factor;
  } else if (scaling?.type === 'llama3') {
    // Long wavelengths (beyond the original context / low_freq_factor) are slowed by `factor`, short ones
    // (below context / high_freq_factor) kept, and the band between interpolated smoothly.
    const { factor: k, lowFreqFactor: lo, highFreqFactor: hi, originalMaxPositionEmbeddings: ctx } = scaling;
    const lowFreqWavelen = ctx / lo;
    const highFreqWavelen = ctx / hi;
    for (let i = 0; i < half; i++) {
      const f = inv[i] as number;
      const wavelen = (2 * Math.PI) / f;
      if (wavelen > lowFreqWavelen) inv[i] = f / k;
      else if (wavelen >= highFreqWavelen) {
        const smooth = (ctx / wavelen - lo) / (hi - lo);
        inv[i] = (1 - smooth) * (f / k) + smooth * f;
      }
    }
  }
  return inv;
}
