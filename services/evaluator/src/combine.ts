// CombineAdapters: several LoRA adapters of one base → a new adapter artefact (the engine's
// combineLoraAdapters, PEFT's add_weighted_adapter rules: linear, cat, svd, ties, dare_linear, dare_ties,
// magnitude_prune), usable as ModelRef.artifact_id for evaluation,
// merging and export like any adapter.
import { randomUUID } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import {
  CombineError,
  combineLoraAdapters,
  type CombinationType as EngineCombination,
  loadPeftAdapter,
  savePeftAdapter,
} from '@tunemesh/engine';
import { FailedPreconditionError, InvalidArgumentError } from '@tunemesh/kit';
import {
  type Artifact,
  ArtifactKind,
  CombinationType,
  type CombineAdaptersRequest,
  Dtype,
  MajoritySignMethod,
  MethodKind,
} from '@tunemesh/proto';
import { dirStats } from './export.js';
import { nothingToMerge } from './merge.js';
import { type ModelPaths, type ResolvedModel, resolveModel } from './models.js';
import type { ArtifactRecords } from './store/artifacts.js';

const TYPES: Partial<Record<CombinationType, EngineCombination>> = {
  [CombinationType.LINEAR]: 'linear',
  [CombinationType.CAT]: 'cat',
  [CombinationType.SVD]: 'svd',
  [CombinationType.TIES]: 'ties',
  [CombinationType.DARE_LINEAR]: 'dare_linear',
  [CombinationType.DARE_TIES]: 'dare_ties',
  [CombinationType.MAGNITUDE_PRUNE]: 'magnitude_prune',
};

export async function combineRpc(
  req: CombineAdaptersRequest,
  deps: { paths: ModelPaths; artifacts: ArtifactRecords; storeDir: string },
): Promise<Artifact> {
  if (req.combinationType === CombinationType.UNSPECIFIED) {
    throw new InvalidArgumentError('combination_type is required', { field: 'combination_type' });
  }
  const type = TYPES[req.combinationType];
  if (!type) {
    throw new InvalidArgumentError(`combination_type ${req.combinationType} is not a combination type`, {
      field: 'combination_type',
    });
  }
  if (req.adapters.length < 2) {
    throw new InvalidArgumentError('combine needs two or more adapters', { field: 'adapters' });
  }
  const resolved: ResolvedModel[] = [];
  for (const [i, w] of req.adapters.entries()) {
    const m = await resolveModel(w.adapter, deps.paths);
    if (m.method === MethodKind.FULL) throw nothingToMerge(m, `adapters[${i}]`, 'it cannot be combined with adapters');
    if (!m.adapterDir) {
      throw new InvalidArgumentError(`adapters[${i}] is not an adapter`, { field: `adapters[${i}].adapter` });
    }
    if (resolved[0] && m.baseDir !== resolved[0].baseDir) {
      throw new FailedPreconditionError(
        `adapters[${i}] is for base ${m.baseModelId}, adapters[0] for ${resolved[0].baseModelId}: adapters for different bases cannot be combined`,
      );
    }
    resolved.push(m);
  }
  const loaded = await Promise.all(resolved.map((m) => loadPeftAdapter(m.adapterDir as string)));
  let combined: ReturnType<typeof combineLoraAdapters>;
  try {
    combined = combineLoraAdapters(
      loaded.map((adapter, i) => ({ adapter, weight: req.adapters[i]?.weight ?? 1 })),
      {
        type,
        ...(req.svdRank > 0 && { svdRank: req.svdRank }),
        ...(req.density !== undefined && { density: req.density }),
        ...(req.seed !== undefined && { seed: req.seed }),
        majoritySign: req.majoritySignMethod === MajoritySignMethod.FREQUENCY ? 'frequency' : 'total',
      },
    );
  } catch (err) {
    if (err instanceof CombineError) {
      if (err.code === 'different_bases') throw new FailedPreconditionError(err.message, { cause: err });
      throw new InvalidArgumentError(err.message, { field: 'adapters', cause: err });
    }
    throw err;
  }
  const id = `ar_${randomUUID().replace(/-/g, '').slice(0, 20)}`;
  const outDir = join(deps.storeDir, 'artifacts', id);
  try {
    await savePeftAdapter(outDir, combined);
    const first = resolved[0] as ResolvedModel;
    const artifact: Artifact = {
      id,
      name: req.name || `${type}-${req.adapters.length}`,
      kind: ArtifactKind.ADAPTER,
      baseModelId: first.baseModelId,
      sources: req.adapters.flatMap((w) => (w.adapter ? [w.adapter] : [])),
      method: MethodKind.LORA,
      dtype: Dtype.F32,
      location: { path: outDir, ...(await dirStats(outDir, 'adapter_model.safetensors')) },
      createdAt: new Date(),
    };
    await deps.artifacts.insert(artifact);
    return artifact;
  } catch (err) {
    await rm(outDir, { recursive: true, force: true });
    throw err;
  }
}
