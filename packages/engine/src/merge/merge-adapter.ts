// `tunemesh merge`: a base model directory plus a trained adapter (PEFT LoRA, DoRA, IA3 or BitFit) → a plain Hugging Face
// model directory whose outputs equal the base with the adapter, at no extra inference cost. Weights are written
// back in the dtype each tensor had in the base checkpoint (a bf16 base gives a bf16 merge). Merges are recorded
// in tunemesh_merge.json in the output, so merging the same adapter into an already-merged model again — which
// would add the update twice — is refused (PEFT tracks this per layer as merged_adapters).

import { createHash } from 'node:crypto';
import { readFile, realpath, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { loadModelDir } from '../io/model-dir.js';
import { ADAPTER_CONFIG_FILE, ADAPTER_WEIGHTS_FILE, loadPeftAdapter } from '../io/peft-adapter.js';
import { readSafetensorsHeader } from '../io/safetensors-read.js';
import type { TensorData } from '../onnx/ir.js';
import { isBottleneckDir } from '../peft/adapter/state.js';
import { BITFIT_WEIGHTS_FILE } from '../peft/bitfit/config.js';
import { isBitfitDir, loadBitfit, withBitfit } from '../peft/bitfit/state.js';
import { PeftError } from '../peft/errors.js';
import { type WeightDType, writeHfModelDir } from '../peft/hf-model-dir.js';
import { mergeIa3 } from '../peft/ia3/merge.js';
import { mergeLora } from '../peft/lora/merge.js';
import { dequantize, quantizeModel } from '../quant/quantize.js';
import type { QuantOptions } from '../quant/types.js';

export const MERGE_RECORD_FILE = 'tunemesh_merge.json';

export interface MergeRecord {
  readonly merged: readonly { readonly adapter: string; readonly method: string; readonly sha256: string }[];
}

export interface MergeResult {
  readonly outDir: string;
  readonly method: 'lora' | 'dora' | 'ia3' | 'bitfit';
  /** Tensors whose values changed. */
  readonly changed: number;
  /** With a quantized base: how many weights were dequantized and written in float32. */
  readonly dequantizedToFloat32?: number;
}

async function exists(path: string): Promise<boolean> {
  return (await stat(path).catch(() => undefined)) !== undefined;
}

async function sha256(file: string): Promise<string> {
  return createHash('sha256')
    .update(await readFile(file))
    .digest('hex');
}

async function readRecord(dir: string): Promise<MergeRecord> {
  const file = join(dir, MERGE_RECORD_FILE);
  if (!(await exists(file))) return { merged: [] };
  try {
    return JSON.parse(await readFile(file, 'utf8')) as MergeRecord;
  } catch (cause) {
    throw new PeftError('bad-config', `${file}: not valid JSON`, { cause });
  }
}

/** Stored dtype of every floating-point tensor of the base checkpoint (float32 where not bf16/f16). */
async function storedDTypes(files: readonly string[]): Promise<Map<string, WeightDType>> {
  const out = new Map<string, WeightDType>();
  for (const f of files.filter((p) => p.endsWith('.safetensors'))) {
    for (const e of (await readSafetensorsHeader(f)).tensors)
      out.set(e.name, e.dtype === 'BF16' ? 'bfloat16' : e.dtype === 'F16' ? 'float16' : 'float32');
  }
  return out;
}

export interface MergeOptions {
  /**
   * The adapter was trained on a quantized base (QLoRA): the quantized linear weights are dequantized, the
   * update is added to those values, and they are written in float32 — merging back into 4 or 8 bits would
   * round the update away and change the outputs.
   */
  readonly quantize?: QuantOptions;
}

export async function mergeAdapter(
  modelDir: string,
  adapterDir: string,
  outDir: string,
  opts: MergeOptions = {},
): Promise<MergeResult> {
  if (
    resolve(outDir) === resolve(modelDir) ||
    ((await exists(outDir)) && (await realpath(outDir)) === (await realpath(modelDir)))
  )
    throw new PeftError('bad-config', `merge output ${outDir} is the base model directory; choose another --out`);
  if (await isBottleneckDir(adapterDir))
    throw new PeftError(
      'unsupported',
      `${adapterDir}: cannot merge a bottleneck adapter: it adds layers of its own, not weight updates (evaluate or generate with --adapter instead)`,
    );
  const lora = await exists(join(adapterDir, ADAPTER_CONFIG_FILE));
  const bitfit = !lora && (await isBitfitDir(adapterDir));
  if (!lora && !bitfit)
    throw new PeftError(
      'bad-adapter-dir',
      `${adapterDir}: neither a PEFT adapter (${ADAPTER_CONFIG_FILE}) nor a BitFit result (tunemesh_config.json)`,
    );
  const weightsFile = join(adapterDir, lora ? ADAPTER_WEIGHTS_FILE : BITFIT_WEIGHTS_FILE);
  const digest = await sha256(weightsFile).catch((cause: unknown) => {
    throw new PeftError('bad-adapter-dir', `${adapterDir}: cannot read ${weightsFile}`, { cause });
  });
  const record = await readRecord(modelDir);
  if (record.merged.some((m) => m.sha256 === digest))
    throw new PeftError(
      'already-merged',
      `${modelDir} already has this adapter merged in (${MERGE_RECORD_FILE}); merging it again would apply it twice`,
    );

  const base = await loadModelDir(modelDir, { dtype: 'float32' });
  const dequantized = new Set<string>();
  if (opts.quantize !== undefined) {
    const q = quantizeModel(base.config, base.weights, opts.quantize);
    for (const [n, w] of q.quantized) {
      base.weights.set(n, dequantize(w));
      dequantized.add(n);
    }
  }
  const model = { config: base.config, weights: base.weights, dir: modelDir };
  let merged: Map<string, TensorData>;
  let method: MergeResult['method'] = 'bitfit';
  if (lora) {
    const adapter = await loadPeftAdapter(adapterDir, { dtype: 'float32' });
    const type = adapter.config.peftType;
    if (type === 'IA3') {
      merged = mergeIa3(model, adapter);
      method = 'ia3';
    } else if (type === 'LORA') {
      merged = mergeLora(model, adapter);
      method = adapter.config.useDora ? 'dora' : 'lora';
    } else {
      throw new PeftError(
        'unsupported',
        `${adapterDir}: cannot merge a ${type} adapter: it adds virtual tokens or key/value prefixes, not weight updates`,
      );
    }
  } else {
    merged = withBitfit(base.weights, (await loadBitfit(adapterDir)).tensors, adapterDir);
  }
  let changed = 0;
  for (const [k, t] of merged) if (base.weights.get(k) !== t) changed++;

  const dtypes = await storedDTypes(base.files);
  await writeHfModelDir(outDir, merged, {
    baseDir: modelDir,
    dtype: (name) => (dequantized.has(name) ? 'float32' : (dtypes.get(name) ?? 'float32')),
  });
  const next: MergeRecord = {
    merged: [...record.merged, { adapter: adapterDir, method, sha256: digest }],
  };
  await writeFile(join(outDir, MERGE_RECORD_FILE), `${JSON.stringify(next, null, 2)}\n`);
  return { outDir, method, changed, ...(dequantized.size > 0 && { dequantizedToFloat32: dequantized.size }) };
}
