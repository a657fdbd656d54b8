import { readFile, stat } from 'node:fs/promises';
import { dirname, isAbsolute, join, normalize } from 'node:path';
import type { TensorData } from '../onnx/ir.js';
import { SafetensorsError } from './errors.js';
import { type LoadOptions, readSafetensors } from './safetensors-read.js';

export interface SafetensorsIndex {
  readonly file: string;
  /** Tensor name -> shard path (resolved against the index's folder). */
  readonly weightMap: ReadonlyMap<string, string>;
  /** Distinct shard paths in first-listed order. */
  readonly shards: readonly string[];
  readonly metadata: Readonly<Record<string, unknown>>;
}

/** Read model.safetensors.index.json and check every shard it names is a file beside it. */
export async function readSafetensorsIndex(file: string): Promise<SafetensorsIndex> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (cause) {
    throw new SafetensorsError('not-found', `${file}: cannot read shard index`, { cause });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (cause) {
    throw new SafetensorsError('index-json', `${file}: not valid JSON (${(cause as Error).message})`, { cause });
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json))
    throw new SafetensorsError('index-json', `${file}: must be a JSON object`);
  const { weight_map: wm, metadata } = json as Record<string, unknown>;
  if (typeof wm !== 'object' || wm === null || Array.isArray(wm))
    throw new SafetensorsError(
      'index-weight-map',
      `${file}: "weight_map" must be an object of tensor name -> shard file`,
    );
  const dir = dirname(file);
  const weightMap = new Map<string, string>();
  const shards: string[] = [];
  for (const [name, shard] of Object.entries(wm)) {
    if (typeof shard !== 'string' || shard === '')
      throw new SafetensorsError('index-weight-map', `${file}: weight_map."${name}" must be a shard file name`);
    // Shards live beside the index; refuse paths that would read elsewhere.
    if (isAbsolute(shard) || normalize(shard).split(/[\\/]/).includes('..')) {
      throw new SafetensorsError(
        'index-weight-map',
        `${file}: weight_map."${name}" points outside the model folder: ${shard}`,
      );
    }
    const path = join(dir, shard);
    if (!shards.includes(path)) shards.push(path);
    weightMap.set(name, path);
  }
  if (weightMap.size === 0) throw new SafetensorsError('index-weight-map', `${file}: "weight_map" is empty`);
  for (const path of shards) {
    const st = await stat(path).catch(() => undefined);
    if (!st?.isFile()) throw new SafetensorsError('missing-shard', `${file}: shard ${path} does not exist`);
  }
  const meta =
    typeof metadata === 'object' && metadata !== null && !Array.isArray(metadata)
      ? (metadata as Record<string, unknown>)
      : {};
  return { file, weightMap, shards, metadata: meta };
}

/** Load every shard of an index; the shards must hold exactly the tensors the index assigns them, once each. */
export async function loadShardedSafetensors(
  indexFile: string,
  opts: LoadOptions = {},
): Promise<Map<string, TensorData>> {
  const index = await readSafetensorsIndex(indexFile);
  const out = new Map<string, TensorData>();
  for (const shard of index.shards) {
    const { tensors } = await readSafetensors(shard, opts);
    for (const [name, t] of tensors) {
      const listed = index.weightMap.get(name);
      if (listed === undefined)
        throw new SafetensorsError('index-mismatch', `${shard}: tensor "${name}" is not listed in ${indexFile}`);
      if (listed !== shard)
        throw new SafetensorsError(
          'index-mismatch',
          `${shard}: tensor "${name}" is listed in ${indexFile} under ${listed}`,
        );
      if (out.has(name)) throw new SafetensorsError('duplicate-tensor', `${shard}: tensor "${name}" appears twice`);
      out.set(name, t);
    }
  }
  for (const [name, shard] of index.weightMap) {
    if (!out.has(name) && (!opts.filter || opts.filter(name))) {
      throw new SafetensorsError(
        'index-mismatch',
        `${indexFile}: tensor "${name}" is listed in ${shard} but that file does not hold it`,
      );
    }
  }
  return out;
}
