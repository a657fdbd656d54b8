// What a model is made of, as PEFT sees it: its linear modules (found by building the graph once with a
// recording `linear` hook, so the list is exactly what the builders wrap), its bias tensors, and which
// parameters get no weight decay.

import { buildCausalLM } from '../models/causal-lm.js';
import type { LinearModule } from '../models/extensions.js';
import type { BaseModel } from './types.js';

export interface LinearInfo {
  readonly name: string;
  readonly layout: LinearModule['layout'];
  readonly inFeatures: number;
  readonly outFeatures: number;
  /** Checkpoint name of its bias, or null. */
  readonly bias: string | null;
  /** The LM head, which "all-linear" leaves out. */
  readonly isOutput: boolean;
}

const cache = new WeakMap<ReadonlyMap<string, unknown>, LinearInfo[]>();

/** Every linear projection of the model in graph order (layers ascending, q/k/v/o then MLP, LM head last). */
export function linearModules(model: BaseModel): LinearInfo[] {
  const hit = cache.get(model.weights);
  if (hit !== undefined) return hit;
  const found: LinearInfo[] = [];
  buildCausalLM(model.config, model.weights, {
    mode: 'logits',
    extensions: {
      linear(_b, name, _x, base, m) {
        found.push({
          name,
          layout: m.layout,
          inFeatures: m.inFeatures,
          outFeatures: m.outFeatures,
          bias: m.bias === null ? null : `${name}.bias`,
          isOutput: name === 'lm_head',
        });
        return base;
      },
    },
  });
  cache.set(model.weights, found);
  return found;
}

// Buffers some checkpoints carry (GPT-2's causal mask "attn.bias") are not parameters.
const BUFFERS = [/\.rotary_emb\.inv_freq$/, /\.attn\.(masked_)?bias$/];

export const isBuffer = (name: string): boolean => BUFFERS.some((re) => re.test(name));

/** Checkpoint parameters (buffers left out), in checkpoint order. */
export function parameterNames(model: BaseModel): string[] {
  return [...model.weights.keys()].filter((n) => !isBuffer(n));
}

/** Bias parameters: the tensors PEFT's bias="all" and BitFit train (every name ending in ".bias"). */
export function biasNames(model: BaseModel): string[] {
  return parameterNames(model).filter((n) => n.endsWith('.bias'));
}

/** No weight decay, as Hugging Face's Trainer groups them: biases and normalisation weights. */
export function isNoDecay(name: string): boolean {
  if (name.endsWith('.bias')) return true;
  const last = name.split('.').slice(-2, -1)[0] ?? '';
  return name.endsWith('.weight') && (/norm/i.test(last) || /^ln_/.test(last));
}

/** One line per module for error messages: "model.layers.0.self_attn.q_proj [64 → 64]". */
export function describeLinears(mods: readonly LinearInfo[]): string {
  // Repeated layers are listed once by their suffix so the message stays readable on deep models.
  const suffixes = new Map<string, LinearInfo>();
  for (const m of mods) {
    const suffix = m.name.replace(/^.*\.(?:layers|h)\.\d+\./, '');
    if (!suffixes.has(suffix)) suffixes.set(suffix, m);
  }
  return [...suffixes.entries()].map(([s, m]) => `${s} [${m.inFeatures} → ${m.outFeatures}]`).join(', ');
}
