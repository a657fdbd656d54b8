// make-tiny-model: a complete, loadable Hugging Face model directory with random weights, for tests, the
// demo and benchmarks. Seeded: the same request writes the same bytes.

import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseModelConfig } from '../io/config.js';
import { writeSafetensors } from '../io/safetensors-write.js';
import {
  DEFAULT_TINY_SIZES,
  makeConfigJson,
  makeGenerationConfigJson,
  TINY_ARCHS,
  type TinyArch,
  type TinySizes,
} from './config.js';
import { TinyModelError } from './errors.js';
import { makeTokenizerFiles } from './tokenizer.js';
import { initWeights } from './weights.js';

export interface MakeTinyModelOptions {
  readonly arch: TinyArch;
  readonly out: string;
  readonly sizes?: Partial<TinySizes>;
  readonly seed?: number;
  /** Text the tokenizer's merges are learned from instead of the built-in corpus. */
  readonly tokenizerCorpus?: string;
}

export const MIN_TINY_VOCAB = 320;

function checkSizes(arch: TinyArch, s: TinySizes): void {
  const bad = (field: string, why: string) => new TinyModelError('bad_size', `${field} ${why}`);
  for (const [k, v] of Object.entries(s)) {
    if (!(Number.isInteger(v) && v >= 1)) throw bad(k, `must be a positive integer, got ${v}`);
  }
  if (s.vocab < MIN_TINY_VOCAB) throw bad('vocab', `must be at least ${MIN_TINY_VOCAB}, got ${s.vocab}`);
  if (s.hidden % s.heads !== 0) throw bad('hidden', `(${s.hidden}) must be divisible by heads (${s.heads})`);
  if (s.heads % s.kvHeads !== 0) throw bad('kv-heads', `(${s.kvHeads}) must divide heads (${s.heads})`);
  if (arch === 'gpt2' && s.kvHeads !== s.heads)
    throw bad('kv-heads', `must equal heads for gpt2 (no grouped-query attention)`);
  if (arch !== 'gpt2' && (s.hidden / s.heads) % 2 !== 0)
    throw bad('hidden', `/ heads = ${s.hidden / s.heads}: RoPE needs an even head size`);
}

export interface TinyModelInfo {
  readonly dir: string;
  readonly arch: TinyArch;
  readonly sizes: TinySizes;
  readonly parameters: number;
}

export async function makeTinyModel(opts: MakeTinyModelOptions): Promise<TinyModelInfo> {
  if (!TINY_ARCHS.includes(opts.arch)) {
    throw new TinyModelError(
      'unsupported_architecture',
      `architecture '${String(opts.arch)}' is not supported (supported: ${TINY_ARCHS.join(', ')})`,
    );
  }
  const seed = opts.seed ?? 0;
  if (!Number.isSafeInteger(seed)) throw new TinyModelError('bad_seed', `seed must be an integer, got ${seed}`);
  const defaults =
    opts.arch === 'gpt2'
      ? { ...DEFAULT_TINY_SIZES, kvHeads: opts.sizes?.heads ?? DEFAULT_TINY_SIZES.heads, maxPositions: 1024 }
      : DEFAULT_TINY_SIZES;
  const sizes: TinySizes = {
    ...defaults,
    ...Object.fromEntries(Object.entries(opts.sizes ?? {}).filter(([, v]) => v !== undefined)),
  };
  checkSizes(opts.arch, sizes);

  const configJson = makeConfigJson(opts.arch, sizes);
  // Parsing our own output through the loader's validator catches a config the engine would refuse.
  const config = parseModelConfig(configJson, 'config.json (generated)');
  const weights = initWeights(config, seed);
  const tok = makeTokenizerFiles(sizes.vocab, {
    tokenizerClass: opts.arch === 'gpt2' ? 'GPT2Tokenizer' : 'Qwen2Tokenizer',
    modelMaxLength: sizes.maxPositions,
    ...(opts.tokenizerCorpus !== undefined && { corpus: opts.tokenizerCorpus }),
  });

  await mkdir(opts.out, { recursive: true });
  const json = (v: unknown) => `${JSON.stringify(v, null, 2)}\n`;
  await writeFile(join(opts.out, 'config.json'), json(configJson));
  await writeFile(join(opts.out, 'generation_config.json'), json(makeGenerationConfigJson(opts.arch, sizes.vocab)));
  await writeFile(join(opts.out, 'tokenizer.json'), json(tok.tokenizer));
  await writeFile(join(opts.out, 'tokenizer_config.json'), json(tok.config));
  await writeSafetensors(join(opts.out, 'model.safetensors'), weights, { format: 'pt' });
  const parameters = Object.values(weights).reduce((a, t) => a + t.data.length, 0);
  return { dir: opts.out, arch: opts.arch, sizes, parameters };
}
