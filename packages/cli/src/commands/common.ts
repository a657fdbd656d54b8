// Options and helpers shared by the commands that open a model.

import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { type Device, type InferenceModel, loadTokenizer, openModel, type Tokenizer } from '@tunemesh/engine';
import type { Command } from 'commander';
import { device, positiveInt } from '../parse.js';

export interface ModelOpts {
  model: string;
  adapter?: string;
  device?: Device;
  threads?: number;
}

export function addModelOptions(cmd: Command): Command {
  return cmd
    .requiredOption('--model <dir>', 'Hugging Face model directory (config.json, model.safetensors, tokenizer.json)')
    .option(
      '--adapter <dir>',
      'trained adapter directory (LoRA, DoRA, IA3, BitFit, bottleneck adapter) applied on top of the model',
    )
    .option('--device <device>', 'cpu or cuda', device)
    .option('--threads <n>', 'onnxruntime intra-op threads', positiveInt);
}

export function openFromOpts(o: ModelOpts): Promise<InferenceModel> {
  return openModel(o.model, {
    ...(o.adapter !== undefined && { adapterDir: o.adapter }),
    ...(o.device !== undefined && { device: o.device }),
    ...(o.threads !== undefined && { threads: o.threads }),
  });
}

/** The model's tokenizer, or undefined when the directory has no tokenizer.json. */
export async function optionalTokenizer(dir: string): Promise<Tokenizer | undefined> {
  const present = await access(join(dir, 'tokenizer.json')).then(
    () => true,
    () => false,
  );
  return present ? loadTokenizer(dir) : undefined;
}

/** Runs `fn` with the model open and releases its sessions afterwards, even on failure. */
export async function withModel<T>(o: ModelOpts, fn: (m: InferenceModel) => Promise<T>): Promise<T> {
  const m = await openFromOpts(o);
  try {
    return await fn(m);
  } finally {
    await m.release();
  }
}
