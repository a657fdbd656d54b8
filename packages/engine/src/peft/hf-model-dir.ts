// Writing a Hugging Face model directory: model.safetensors in a chosen floating-point dtype, with the base
// directory's config, generation config and tokenizer files copied beside it so the result loads as it is.

import { copyFile, mkdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { floatToBf16, floatToHalf } from '../io/convert.js';
import { writeSafetensors } from '../io/safetensors-write.js';
import type { TensorData } from '../onnx/ir.js';

/** Files transformers reads beside the weights. Whichever of these the base directory has is copied. */
export const MODEL_DIR_FILES = [
  'config.json',
  'generation_config.json',
  'tokenizer.json',
  'tokenizer_config.json',
  'special_tokens_map.json',
  'added_tokens.json',
  'vocab.json',
  'merges.txt',
  'tokenizer.model',
  'chat_template.jinja',
] as const;

export type WeightDType = 'float32' | 'float16' | 'bfloat16';

/** Converts a floating-point tensor to `dtype` (round to nearest even); other tensors are returned as they are. */
export function toDType(t: TensorData, dtype: WeightDType): TensorData {
  if (t.dtype === dtype || (t.dtype !== 'float32' && t.dtype !== 'float64')) return t;
  const src = t.data as Float32Array | Float64Array;
  if (dtype === 'float32') return { dtype, dims: t.dims, data: Float32Array.from(src) };
  const out = new Uint16Array(src.length);
  const conv = dtype === 'bfloat16' ? floatToBf16 : floatToHalf;
  for (let i = 0; i < src.length; i++) out[i] = conv(src[i] as number);
  return { dtype, dims: t.dims, data: out };
}

async function isFile(path: string): Promise<boolean> {
  return (await stat(path).catch(() => undefined))?.isFile() ?? false;
}

/**
 * Writes `outDir`/model.safetensors (floating-point tensors converted to `dtype`, one for all or per tensor) and copies the base
 * directory's config and tokenizer files. The weights go to a temporary name first (writeSafetensors).
 */
export async function writeHfModelDir(
  outDir: string,
  tensors: ReadonlyMap<string, TensorData>,
  opts: { baseDir?: string; dtype?: WeightDType | ((name: string) => WeightDType) } = {},
): Promise<void> {
  await mkdir(outDir, { recursive: true });
  const dtype = opts.dtype ?? 'float32';
  const converted = new Map<string, TensorData>();
  for (const [k, t] of tensors) converted.set(k, toDType(t, typeof dtype === 'function' ? dtype(k) : dtype));
  await writeSafetensors(join(outDir, 'model.safetensors'), converted, { format: 'pt' });
  if (opts.baseDir !== undefined) {
    for (const f of MODEL_DIR_FILES) {
      const src = join(opts.baseDir, f);
      if (await isFile(src)) await copyFile(src, join(outDir, f));
    }
  }
}
