// Which files a ModelRef names. base_model_id: a model directory inside the model roots. job_id: the job's
// final adapter at <adapter root>/<job_id>, on the base its adapter_config.json names. Checkpoints and
// artefacts are not stored by this service yet, so they are refused as unimplemented rather than guessed.
import { readFile, realpath, stat } from 'node:fs/promises';
import { basename, isAbsolute, join, relative, resolve, sep } from 'node:path';
import {
  FailedPreconditionError,
  InvalidArgumentError,
  NotFoundError,
  NotImplementedError,
  PermissionDeniedError,
} from '@tunemesh/kit';
import { type Artifact, ArtifactKind, type ModelRef } from '@tunemesh/proto';

export interface ResolvedModel {
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
}

export interface ModelPaths {
  readonly modelRoots: readonly string[];
  readonly adapterRoot: string;
  /** The evaluator's own artefacts (merged models), for ModelRef.artifact_id. */
  readonly artifact?: (id: string) => Promise<Artifact | undefined>;
}

function inside(root: string, path: string): boolean {
  const rel = relative(root, path);
  return rel === '' || (!rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel));
}

async function isDir(p: string): Promise<boolean> {
  return stat(p).then(
    (s) => s.isDirectory(),
    () => false,
  );
}

/** A base model directory inside a root, checked after following links; its id relative to that root. */
async function baseModel(id: string, roots: readonly string[], field: string): Promise<{ dir: string; id: string }> {
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
      const b = await baseModel(t.value, paths.modelRoots, 'model.base_model_id');
      return { baseDir: b.dir, baseModelId: b.id, tokenizerDir: b.dir, jobId: '', isBaseline: true };
    }
    case 'jobId': {
      if (paths.adapterRoot === '')
        throw new FailedPreconditionError('no adapter root is configured on this evaluator');
      if (t.value === '' || t.value.includes('/') || t.value.includes('\\') || t.value.startsWith('.')) {
        throw new InvalidArgumentError(`model.job_id ${JSON.stringify(t.value)} is not a job id`, {
          field: 'model.job_id',
        });
      }
      // Either <root>/<job id> or the trainer's artefact layout <root>/jobs/<job id>/adapter, so the trainer's
      // store can be the adapter root as it is.
      const flat = join(paths.adapterRoot, t.value);
      const trainer = join(paths.adapterRoot, 'jobs', t.value, 'adapter');
      const dir = (await isDir(flat)) || !(await isDir(trainer)) ? flat : trainer;
      return jobAdapter(t.value, dir, paths);
    }
    case 'artifactId': {
      const a = await paths.artifact?.(t.value);
      if (!a) throw new NotFoundError(`artefact ${JSON.stringify(t.value)} does not exist`);
      if (a.kind === ArtifactKind.ADAPTER && a.location) {
        const b = await baseModel(a.baseModelId, paths.modelRoots, "the artefact's base_model_id");
        return {
          baseDir: b.dir,
          baseModelId: a.baseModelId,
          tokenizerDir: b.dir,
          adapterDir: a.location.path,
          jobId: '',
          isBaseline: false,
        };
      }
      if (a.kind !== ArtifactKind.MERGED_MODEL || !a.location) {
        throw new NotImplementedError(`running a ${ArtifactKind[a.kind]} artefact is not built yet (issue 8)`);
      }
      // A merged model is a complete model directory; it is not the baseline of its base.
      const b = await baseModel(a.baseModelId, paths.modelRoots, "the artefact's base_model_id");
      return {
        baseDir: a.location.path,
        baseModelId: a.baseModelId,
        tokenizerDir: b.dir,
        jobId: '',
        isBaseline: false,
      };
    }
    case 'checkpointId':
      throw new NotImplementedError('evaluating a checkpoint is not built yet (issue 8); use job_id or base_model_id');
  }
}

/** A job's adapter directory on the base its adapter_config.json names (base_model_name_or_path). */
export async function jobAdapter(jobId: string, adapterDir: string, paths: ModelPaths): Promise<ResolvedModel> {
  let config: { base_model_name_or_path?: unknown };
  try {
    config = JSON.parse(await readFile(join(adapterDir, 'adapter_config.json'), 'utf8'));
  } catch {
    throw new NotFoundError(`job ${JSON.stringify(jobId)} has no adapter (adapter_config.json) at ${adapterDir}`);
  }
  const base = config.base_model_name_or_path;
  if (typeof base !== 'string' || base === '') {
    throw new FailedPreconditionError(`job ${jobId}'s adapter_config.json does not name its base model`);
  }
  // PEFT writes whatever path or hub id the base was loaded from; try it as written, then its last part.
  const b = await baseModel(base, paths.modelRoots, 'base_model_name_or_path').catch(() =>
    baseModel(basename(base), paths.modelRoots, 'base_model_name_or_path'),
  );
  return { baseDir: b.dir, baseModelId: b.id, tokenizerDir: b.dir, adapterDir, jobId, isBaseline: false };
}
