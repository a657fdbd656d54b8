// Which files a ModelRef names. base_model_id: a model directory inside the model roots. job_id: the job's
// final result at <adapter root>/<job_id> (or the trainer's layout <adapter root>/jobs/<job_id>/adapter).
// checkpoint_id: the trainer's "<job id>-ckpt-<step>", whose directory
// <adapter root>/jobs/<job id>/checkpoints/checkpoint-<step> holds the method's saved form too. A job's result is
// an adapter on the base its config names (PEFT's adapter_config.json; BitFit's tunemesh_config.json) or, for
// full fine-tuning, a whole Hugging Face model directory (config.json and weights) that runs as it is and names
// no base: the trainer's record of the job does. artifact_id: this service's combined adapters and merged models.
import { readFile, realpath, stat } from 'node:fs/promises';
import { basename, isAbsolute, join, relative, resolve, sep } from 'node:path';
import {
  FailedPreconditionError,
  InvalidArgumentError,
  NotFoundError,
  NotImplementedError,
  PermissionDeniedError,
} from '@tunemesh/kit';
import { type Artifact, ArtifactKind, MethodKind, type ModelRef } from '@tunemesh/proto';
import type { BaseModelRegistry } from './base-models.js';

export interface ResolvedModel {
  /** The model directory that runs: a base model (with adapterDir on it, if any), a merged or fully fine-tuned model. */
  readonly baseDir: string;
  /** The id the leaderboard groups baselines by: the base directory relative to its model root. */
  readonly baseModelId: string;
  readonly adapterDir?: string;
  /**
   * The registered base model directory whose tokenizer the model uses; the dataset service tokenises with it
   * (a merged artefact carries a copy, but lives outside the model roots the dataset service may read).
   */
  readonly tokenizerDir: string;
  readonly jobId: string;
  readonly isBaseline: boolean;
  /** The adapter's method (from its saved config), FULL for a fully fine-tuned model; UNSPECIFIED for a base alone. */
  readonly method: MethodKind;
}

export interface ModelPaths {
  readonly modelRoots: readonly string[];
  readonly adapterRoot: string;
  /** The trainer's base model ids ↔ directories; absent: base models are named by their path in the roots. */
  readonly registry?: BaseModelRegistry;
  /** The evaluator's own artefacts (merged models), for ModelRef.artifact_id. */
  readonly artifact?: (id: string) => Promise<Artifact | undefined>;
}

function inside(root: string, path: string): boolean {
  const rel = relative(root, path);
  return rel === '' || (!rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel));
}

export async function isDir(p: string): Promise<boolean> {
  return stat(p).then(
    (s) => s.isDirectory(),
    () => false,
  );
}

async function isFile(p: string): Promise<boolean> {
  return stat(p).then(
    (s) => s.isFile(),
    () => false,
  );
}

/** A base model by the trainer's id or by its path in the model roots; the trainer's id when it has one. */
async function baseModel(id: string, paths: ModelPaths, field: string): Promise<{ dir: string; id: string }> {
  const registered = await paths.registry?.pathOf(id);
  if (registered !== undefined) {
    // A trainer id: its directory must still lie inside this evaluator's model roots.
    const b = await baseModelInRoots(registered, paths.modelRoots, field);
    return { dir: b.dir, id };
  }
  const b = await baseModelInRoots(id, paths.modelRoots, field);
  return { dir: b.dir, id: (await paths.registry?.idOf(b.dir)) ?? b.id };
}

/** A base model directory inside a root, checked after following links; its id relative to that root. */
async function baseModelInRoots(
  id: string,
  roots: readonly string[],
  field: string,
): Promise<{ dir: string; id: string }> {
  if (roots.length === 0) throw new FailedPreconditionError('no model roots are configured on this evaluator');
  for (const root of roots) {
    const candidate = resolve(root, id);
    if (!inside(resolve(root), candidate) || !(await isDir(candidate))) continue;
    const real = await realpath(candidate);
    if (!inside(await realpath(root), real)) {
      throw new PermissionDeniedError(`${field} ${JSON.stringify(id)} leads outside the model roots`);
    }
    const hasConfig = await stat(join(real, 'config.json')).then(
      (s) => s.isFile(),
      () => false,
    );
    if (!hasConfig) continue;
    return { dir: real, id: relative(await realpath(root), real) };
  }
  throw new NotFoundError(`${field} ${JSON.stringify(id)} is not a model directory in the model roots`);
}

export async function resolveModel(ref: ModelRef | undefined, paths: ModelPaths): Promise<ResolvedModel> {
  const t = ref?.target;
  if (!t)
    throw new InvalidArgumentError('model must name a base model, job, checkpoint or artefact', { field: 'model' });
  switch (t.$case) {
    case 'baseModelId': {
      const b = await baseModel(t.value, paths, 'model.base_model_id');
      return {
        baseDir: b.dir,
        baseModelId: b.id,
        tokenizerDir: b.dir,
        jobId: '',
        isBaseline: true,
        method: MethodKind.UNSPECIFIED,
      };
    }
    case 'jobId': {
      if (paths.adapterRoot === '')
        throw new FailedPreconditionError('no adapter root is configured on this evaluator');
      if (t.value === '' || t.value.includes('/') || t.value.includes('\\') || t.value.startsWith('.')) {
        throw new InvalidArgumentError(`model.job_id ${JSON.stringify(t.value)} is not a job id`, {
          field: 'model.job_id',
        });
      }
      return jobModel(t.value, await jobDir(t.value, paths), paths);
    }
    case 'artifactId': {
      const a = await paths.artifact?.(t.value);
      if (!a) throw new NotFoundError(`artefact ${JSON.stringify(t.value)} does not exist`);
      if (a.kind === ArtifactKind.ADAPTER && a.location) {
        const b = await baseModel(a.baseModelId, paths, "the artefact's base_model_id");
        return {
          baseDir: b.dir,
          baseModelId: a.baseModelId,
          tokenizerDir: b.dir,
          adapterDir: a.location.path,
          jobId: '',
          isBaseline: false,
          method: a.method,
        };
      }
      if (a.kind !== ArtifactKind.MERGED_MODEL || !a.location) {
        throw new NotImplementedError(`running a ${ArtifactKind[a.kind]} artefact is not built yet (issue 8)`);
      }
      // A merged model is a complete model directory; it is not the baseline of its base.
      const b = await baseModel(a.baseModelId, paths, "the artefact's base_model_id");
      return {
        baseDir: a.location.path,
        baseModelId: a.baseModelId,
        tokenizerDir: b.dir,
        jobId: '',
        isBaseline: false,
        method: a.method,
      };
    }
    case 'checkpointId': {
      if (paths.adapterRoot === '')
        throw new FailedPreconditionError('no adapter root is configured on this evaluator');
      const m = CHECKPOINT_ID.exec(t.value);
      if (m === null) {
        throw new InvalidArgumentError(
          `model.checkpoint_id ${JSON.stringify(t.value)} is not a checkpoint id ("<job id>-ckpt-<step>", as ListCheckpoints gives)`,
          { field: 'model.checkpoint_id' },
        );
      }
      const [, jobId = '', step = ''] = m;
      const dir = join(paths.adapterRoot, 'jobs', jobId, 'checkpoints', `checkpoint-${Number(step)}`);
      if (!(await isDir(dir))) {
        throw new NotFoundError(
          `checkpoint ${JSON.stringify(t.value)} is not in the artefact store (no ${dir}; save_total_limit may have pruned it)`,
        );
      }
      return jobModel(jobId, dir, paths);
    }
  }
}

/**
 * A job's final result: <root>/<job id>, or the trainer's artefact layout <root>/jobs/<job id>/adapter, so the
 * trainer's store can be the adapter root as it is.
 */
export async function jobDir(jobId: string, paths: ModelPaths): Promise<string> {
  const flat = join(paths.adapterRoot, jobId);
  const trainer = join(paths.adapterRoot, 'jobs', jobId, 'adapter');
  return (await isDir(flat)) || !(await isDir(trainer)) ? flat : trainer;
}

/**
 * What a job left in `dir` (its final result or one of its checkpoints): an adapter on its base, or a fully
 * fine-tuned model. `known.baseModelId` is the job's base when the caller has it (job.completed carries it);
 * otherwise a full fine-tuning result's base is asked of the trainer.
 */
export async function jobModel(
  jobId: string,
  dir: string,
  paths: ModelPaths,
  known: { baseModelId?: string } = {},
): Promise<ResolvedModel> {
  const adapter = (await isFile(join(dir, 'adapter_config.json'))) || (await isFile(join(dir, 'tunemesh_config.json')));
  if (adapter || !(await isFile(join(dir, 'config.json')))) return jobAdapter(jobId, dir, paths);
  return fullModel(jobId, dir, paths, known.baseModelId);
}

/**
 * A full fine-tuning result: the trained model itself runs (no adapter); the base gives the leaderboard its
 * baseline group and the dataset service its tokenizer (the copy beside the weights lies outside the roots the
 * dataset service may read, and full fine-tuning does not change the tokenizer).
 */
async function fullModel(
  jobId: string,
  dir: string,
  paths: ModelPaths,
  knownBase: string | undefined,
): Promise<ResolvedModel> {
  let baseId = knownBase;
  if (baseId === undefined || baseId === '') {
    if (paths.registry === undefined) {
      throw new FailedPreconditionError(
        `job ${jobId} is a full fine-tuning result (a whole model at ${dir}), which does not name its base model; the trainer service knows it, but this evaluator has no trainer address (EVALUATOR_TRAINER_ADDR)`,
      );
    }
    baseId = await paths.registry.jobBaseModelId(jobId);
    if (baseId === undefined) {
      throw new NotFoundError(
        `the trainer service has no job ${JSON.stringify(jobId)}, so the base model of the full fine-tuning result at ${dir} is unknown`,
      );
    }
  }
  const b = await baseModel(baseId, paths, `job ${jobId}'s base_model_id`);
  // The trainer copies the base's config.json beside the trained weights; a different architecture means the
  // directory is not this job's result on this base, and the base's tokenizer would not fit it.
  const [mine, theirs] = await Promise.all([readJson(join(dir, 'config.json')), readJson(join(b.dir, 'config.json'))]);
  // (GPT-2's config spells the sizes n_embd and n_layer.)
  for (const key of ['model_type', 'vocab_size', 'hidden_size', 'n_embd', 'num_hidden_layers', 'n_layer'] as const) {
    if (mine?.[key] !== theirs?.[key]) {
      throw new FailedPreconditionError(
        `job ${jobId}'s model at ${dir} has ${key} ${JSON.stringify(mine?.[key])}, its base ${b.id} has ${JSON.stringify(theirs?.[key])}`,
      );
    }
  }
  return {
    baseDir: dir,
    baseModelId: b.id,
    tokenizerDir: b.dir,
    jobId,
    isBaseline: false,
    method: MethodKind.FULL,
  };
}

/** The trainer's checkpoint ids: "<job id>-ckpt-<step>" (services/trainer/src/layout.ts). */
const CHECKPOINT_ID = /^([\w-]+)-ckpt-(\d{1,12})$/;

/** peft_type in adapter_config.json → method; BitFit (no PEFT type) writes tunemesh_config.json instead. */
const PEFT_TYPES: Readonly<Record<string, MethodKind>> = {
  LORA: MethodKind.LORA,
  IA3: MethodKind.IA3,
  PROMPT_TUNING: MethodKind.PROMPT_TUNING,
  P_TUNING: MethodKind.P_TUNING,
  PREFIX_TUNING: MethodKind.PREFIX_TUNING,
};

async function readJson(path: string): Promise<Record<string, unknown> | undefined> {
  try {
    const v: unknown = JSON.parse(await readFile(path, 'utf8'));
    return typeof v === 'object' && v !== null ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** The method an adapter directory was trained with, from the config it was saved with; UNSPECIFIED if unknown. */
export async function adapterMethod(dir: string): Promise<MethodKind> {
  const peft = await readJson(join(dir, 'adapter_config.json'));
  if (typeof peft?.peft_type === 'string') return PEFT_TYPES[peft.peft_type] ?? MethodKind.UNSPECIFIED;
  const ours = await readJson(join(dir, 'tunemesh_config.json'));
  return ours?.method === 'bitfit' ? MethodKind.BITFIT : MethodKind.UNSPECIFIED;
}

/** A job's adapter directory on the base its adapter_config.json names (base_model_name_or_path). */
export async function jobAdapter(jobId: string, adapterDir: string, paths: ModelPaths): Promise<ResolvedModel> {
  // PEFT methods write adapter_config.json; BitFit, which PEFT lacks, writes tunemesh_config.json.
  const file =
    (await readJson(join(adapterDir, 'adapter_config.json'))) !== undefined
      ? 'adapter_config.json'
      : 'tunemesh_config.json';
  const config = await readJson(join(adapterDir, file));
  if (config === undefined) {
    throw new NotFoundError(
      `job ${JSON.stringify(jobId)} has no adapter (adapter_config.json or tunemesh_config.json) and no fully fine-tuned model (config.json) at ${adapterDir}`,
    );
  }
  const base = config.base_model_name_or_path;
  if (typeof base !== 'string' || base === '') {
    throw new FailedPreconditionError(`job ${jobId}'s ${file} does not name its base model`);
  }
  // PEFT writes whatever path or hub id the base was loaded from; try it as written, then its last part.
  const b = await baseModel(base, paths, 'base_model_name_or_path').catch(() =>
    baseModel(basename(base), paths, 'base_model_name_or_path'),
  );
  return {
    baseDir: b.dir,
    baseModelId: b.id,
    tokenizerDir: b.dir,
    adapterDir,
    jobId,
    isBaseline: false,
    method: await adapterMethod(adapterDir),
  };
}
