// Base models: a Hugging Face directory is read and checked by the engine (config and architecture, weights
// against the config, tokenizer) before it is recorded, so a job never meets a model that cannot load.

import { createHash, randomUUID } from 'node:crypto';
import { open, readFile, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import {
  defaultLoraConfig,
  linearModules,
  loadModelDir,
  loadTokenizer,
  type ModelConfig,
  type ModelDir,
  resolveLoraConfig,
} from '@tunemesh/engine';
import { AlreadyExistsError, InvalidArgumentError } from '@tunemesh/kit';
import { BaseModel, Dtype } from '@tunemesh/proto';
import type { Kysely } from 'kysely';
import { isCodedError } from './engine-errors.js';
import { modelDirInRoots } from './paths.js';
import { retryUniqueRace, type TrainerDb } from './store/db.js';

const DTYPES: Readonly<Record<string, Dtype>> = {
  float32: Dtype.F32,
  float16: Dtype.F16,
  bfloat16: Dtype.BF16,
};

/** Reads only the safetensors header (length prefix + JSON): what identifies the tensors without their bytes. */
async function safetensorsHeader(file: string): Promise<Buffer> {
  const fh = await open(file, 'r');
  try {
    const prefix = Buffer.alloc(8);
    await fh.read(prefix, 0, 8, 0);
    const n = Number(prefix.readBigUInt64LE(0));
    const header = Buffer.alloc(Math.min(n, 100 * 1024 * 1024));
    await fh.read(header, 0, header.length, 8);
    return header;
  } finally {
    await fh.close();
  }
}

/** SHA-256 of config.json and the weight files' manifest (name, size, safetensors header). */
async function modelSha256(dir: string, files: readonly string[]): Promise<{ sha: string; bytes: number }> {
  const h = createHash('sha256');
  h.update(await readFile(join(dir, 'config.json')));
  let bytes = 0;
  for (const f of files) {
    const size = (await stat(f)).size;
    bytes += size;
    h.update(`\n${basename(f)}\t${size}\n`);
    if (f.endsWith('.safetensors')) h.update(await safetensorsHeader(f));
  }
  return { sha: h.digest('hex'), bytes };
}

function suffixes(names: readonly string[]): string[] {
  return [...new Set(names.map((n) => n.split('.').at(-1) ?? n))];
}

function defaultTargets(config: ModelConfig): string[] {
  const t = resolveLoraConfig(defaultLoraConfig(), config).targetModules;
  return t?.kind === 'list' ? [...t.names] : [];
}

/** Loads and checks a model directory with the engine; a model it cannot use is INVALID_ARGUMENT on `path`. */
export async function inspectModelDir(dir: string): Promise<{ model: ModelDir; hasChatTemplate: boolean }> {
  try {
    const model = await loadModelDir(dir);
    const tok = await loadTokenizer(dir);
    return { model, hasChatTemplate: tok.chatTemplate !== undefined };
  } catch (err) {
    if (isCodedError(err))
      throw new InvalidArgumentError(`path: not a usable model directory: ${err.message}`, {
        field: 'path',
        cause: err,
      });
    throw err;
  }
}

export class BaseModels {
  constructor(
    private readonly db: Kysely<TrainerDb>,
    private readonly roots: readonly string[],
  ) {}

  async register(name: string, path: string): Promise<{ model: BaseModel; existed: boolean }> {
    const dir = await modelDirInRoots(path, this.roots, 'path');
    const known = await this.db.selectFrom('base_models').select('json').where('path', '=', dir).executeTakeFirst();
    if (known !== undefined) return { model: parse(known.json), existed: true };
    const finalName = name === '' ? basename(dir) : name;
    if (!/^[\w.@/-]{1,200}$/.test(finalName))
      throw new InvalidArgumentError('name must be 1-200 letters, digits or ._-@/', { field: 'name' });
    const { model, hasChatTemplate } = await inspectModelDir(dir);
    const c = model.config;
    let parameterCount = 0;
    for (const t of model.weights.values()) parameterCount += t.dims.reduce((a, b) => a * b, 1);
    const { sha, bytes } = await modelSha256(dir, model.files);
    const record: BaseModel = {
      id: `bm-${randomUUID()}`,
      name: finalName,
      path: dir,
      architecture: c.architecture,
      modelType: c.modelType,
      parameterCount: BigInt(parameterCount),
      sizeBytes: BigInt(bytes),
      dtype: DTYPES[c.torchDtype ?? 'float32'] ?? Dtype.UNSPECIFIED,
      vocabSize: c.vocabSize,
      contextLength: c.maxPositionEmbeddings,
      hiddenSize: c.hiddenSize,
      numLayers: c.numLayers,
      numAttentionHeads: c.numHeads,
      numKeyValueHeads: c.numKvHeads,
      linearModuleNames: suffixes(linearModules({ config: c, weights: model.weights }).map((m) => m.name)),
      defaultTargetModules: defaultTargets(c),
      hasChatTemplate,
      sha256: sha,
      createdAt: new Date(),
    };
    // Retried when another register won a unique race (seq, path or name): the retry sees the winner's row.
    return retryUniqueRace(async () => {
      const won = await this.db.selectFrom('base_models').select('json').where('path', '=', dir).executeTakeFirst();
      if (won !== undefined) return { model: parse(won.json), existed: true };
      const clash = await this.db
        .selectFrom('base_models')
        .select('id')
        .where('name', '=', finalName)
        .executeTakeFirst();
      if (clash !== undefined) throw new AlreadyExistsError(`a base model named ${JSON.stringify(finalName)} exists`);
      await this.insert(record, c.architecture);
      return { model: record, existed: false };
    });
  }

  private async insert(record: BaseModel, architecture: string): Promise<void> {
    await this.db.transaction().execute(async (tx) => {
      const next = await tx
        .selectFrom('base_models')
        .select((eb) => eb.fn.coalesce(eb.fn.max('seq'), eb.lit(0)).as('m'))
        .executeTakeFirstOrThrow();
      await tx
        .insertInto('base_models')
        .values({
          id: record.id,
          seq: Number(next.m) + 1,
          name: record.name,
          path: record.path,
          architecture,
          json: JSON.stringify(BaseModel.toJSON(record)),
        })
        .execute();
    });
  }

  async get(id: string): Promise<BaseModel | undefined> {
    const row = await this.db.selectFrom('base_models').select('json').where('id', '=', id).executeTakeFirst();
    return row === undefined ? undefined : parse(row.json);
  }

  async list(opts: {
    architecture: string;
    ids: readonly string[];
    offset: number;
    limit: number;
  }): Promise<BaseModel[]> {
    let q = this.db.selectFrom('base_models').select('json').orderBy('name').orderBy('seq');
    if (opts.architecture !== '') q = q.where('architecture', '=', opts.architecture);
    if (opts.ids.length > 0) q = q.where('id', 'in', [...opts.ids]);
    const rows = await q.offset(opts.offset).limit(opts.limit).execute();
    return rows.map((r) => parse(r.json));
  }
}

function parse(json: string): BaseModel {
  return BaseModel.fromJSON(JSON.parse(json));
}
