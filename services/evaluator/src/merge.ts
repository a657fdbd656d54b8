// MergeAdapter: the engine's mergeAdapter writes a plain Hugging Face model directory; this checks it. The
// merged model must give the same logits as base+adapter on a sample (max |Δlogit| within a dtype-dependent
// tolerance) and the same loss; the numbers are recorded with the artefact. A merge with non-finite weights
// is refused, naming the tensor.
import { createHash, randomUUID } from 'node:crypto';
import { readdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import {
  evaluateLoss,
  type InferenceModel,
  loadModelDir,
  loadTokenizer,
  mergeAdapter,
  openModel,
  PeftError,
  type WeightDType,
  writeHfModelDir,
} from '@tunemesh/engine';
import { FailedPreconditionError, InvalidArgumentError } from '@tunemesh/kit';
import {
  type Artifact,
  ArtifactKind,
  Dtype,
  type MergeAdapterRequest,
  type MergeVerification,
  MethodKind,
} from '@tunemesh/proto';
import { type ModelPaths, type ResolvedModel, resolveModel } from './models.js';
import type { ArtifactRecords } from './store/artifacts.js';

/** A fixed sample, so that verifications of different merges are comparable. */
export const VERIFICATION_TEXT =
  'The quick brown fox jumps over the lazy dog. A merged model must answer exactly as its base with the adapter.';

// Float32 merges differ from base+adapter only by summation order; half-precision storage rounds each weight.
const TOLERANCE: Record<WeightDType, number> = { float32: 1e-3, float16: 5e-2, bfloat16: 2.5e-1 };

const NOT_MERGEABLE: Record<string, string> = {
  PROMPT_TUNING: 'prompt tuning adds virtual tokens to the input, not weights',
  P_TUNING: 'P-tuning adds virtual tokens from a prompt encoder, not weights',
  PREFIX_TUNING: 'prefix tuning adds key/value prefixes to every layer, not weights',
  ADAPTER: 'bottleneck adapters add layers of their own',
  // the engine's saved form of bottleneck adapters (PEFT has no such type)
  TUNEMESH_BOTTLENECK_ADAPTER: 'bottleneck adapters add layers of their own',
};

const PEFT_METHOD: Record<string, MethodKind> = { LORA: MethodKind.LORA, IA3: MethodKind.IA3 };

export function weightDType(d: Dtype): WeightDType | undefined {
  if (d === Dtype.F32) return 'float32';
  if (d === Dtype.F16) return 'float16';
  if (d === Dtype.BF16) return 'bfloat16';
  return undefined;
}
const protoDtype = (d: WeightDType): Dtype => (d === 'float16' ? Dtype.F16 : d === 'bfloat16' ? Dtype.BF16 : Dtype.F32);

/** A fully fine-tuned model is already a whole model: merging (or combining) it has no meaning. */
export function nothingToMerge(model: ResolvedModel, where: string, consequence: string): FailedPreconditionError {
  const what = model.jobId === '' ? where : `${where} (job ${model.jobId})`;
  return new FailedPreconditionError(
    `${what} was trained with full fine-tuning (METHOD_KIND_FULL): it is a whole model, not an adapter, so ${consequence}; evaluate or export it as it is (ExportModel with the same reference)`,
  );
}

async function peftType(adapterDir: string): Promise<string | undefined> {
  try {
    const c = JSON.parse(await readFile(join(adapterDir, 'adapter_config.json'), 'utf8')) as { peft_type?: unknown };
    return typeof c.peft_type === 'string' ? c.peft_type : undefined;
  } catch {
    return undefined; // BitFit results have no adapter_config.json
  }
}

async function logitsAndLoss(m: InferenceModel, ids: number[], padId: number) {
  const out = await (await m.session('logits')).run(
    {
      input_ids: { dtype: 'int64', dims: [1, ids.length], data: BigInt64Array.from(ids.map(BigInt)) },
      attention_mask: { dtype: 'int64', dims: [1, ids.length], data: new BigInt64Array(ids.length).fill(1n) },
      ...((await m.session('logits')).inputNames.includes('position_ids') && {
        position_ids: { dtype: 'int64', dims: [1, ids.length], data: BigInt64Array.from(ids.map((_, i) => BigInt(i))) },
      }),
    },
    ['logits'],
  );
  const logits = out.logits?.data as Float32Array;
  const loss = await evaluateLoss(await m.session('loss'), [{ inputIds: ids }], { padId });
  return { logits, loss: loss.loss };
}

/** Compares base+adapter with the merged directory on the verification text. */
export async function verifyMerge(
  model: ResolvedModel,
  mergedDir: string,
  dtype: WeightDType,
): Promise<MergeVerification> {
  const tokenizer = await loadTokenizer(model.baseDir);
  const ids = tokenizer.encode(VERIFICATION_TEXT);
  const padId = tokenizer.padTokenId ?? 0;
  const withAdapter = await openModel(model.baseDir, {
    threads: 1,
    ...(model.adapterDir && { adapterDir: model.adapterDir }),
  });
  const merged = await openModel(mergedDir, { threads: 1 });
  try {
    const a = await logitsAndLoss(withAdapter, ids, padId);
    const b = await logitsAndLoss(merged, ids, padId);
    let maxAbs = 0;
    for (let i = 0; i < a.logits.length; i++) maxAbs = Math.max(maxAbs, Math.abs(a.logits[i]! - b.logits[i]!));
    const tolerance = TOLERANCE[dtype];
    return {
      adapterLoss: a.loss,
      mergedLoss: b.loss,
      maxAbsLogitDiff: maxAbs,
      tolerance,
      passed: maxAbs <= tolerance,
      sampleTokens: BigInt(ids.length),
    };
  } finally {
    await Promise.all([withAdapter.release(), merged.release()]);
  }
}

async function dirSize(dir: string): Promise<bigint> {
  let total = 0n;
  for (const f of await readdir(dir)) total += BigInt((await stat(join(dir, f))).size);
  return total;
}

export async function mergeRpc(
  req: MergeAdapterRequest,
  deps: { paths: ModelPaths; artifacts: ArtifactRecords; storeDir: string },
): Promise<Artifact> {
  const model = await resolveModel(req.adapter, deps.paths);
  if (model.method === MethodKind.FULL) throw nothingToMerge(model, 'adapter', 'there is nothing to merge');
  if (!model.adapterDir) {
    throw new InvalidArgumentError('adapter must name an adapter (a job or an adapter artefact), not a base model', {
      field: 'adapter',
    });
  }
  const type = await peftType(model.adapterDir);
  const why = type === undefined ? undefined : NOT_MERGEABLE[type];
  if (why) throw new FailedPreconditionError(`a ${type} adapter cannot be merged: ${why}`);
  const id = `ar_${randomUUID().replace(/-/g, '').slice(0, 20)}`;
  const outDir = join(deps.storeDir, 'artifacts', id);
  try {
    try {
      await mergeAdapter(model.baseDir, model.adapterDir, outDir);
    } catch (err) {
      if (err instanceof PeftError) throw new FailedPreconditionError(`cannot merge: ${err.message}`, { cause: err });
      throw err;
    }
    const merged = await loadModelDir(outDir, { dtype: 'float32' });
    for (const [name, t] of merged.weights) {
      if (t.data instanceof Float32Array && !t.data.every(Number.isFinite)) {
        throw new FailedPreconditionError(`the merge produced non-finite values in ${name}`);
      }
    }
    const requested = weightDType(req.dtype);
    if (requested) await writeHfModelDir(outDir, merged.weights, { dtype: requested });
    const stored =
      requested ??
      (merged.config.torchDtype === 'bfloat16'
        ? 'bfloat16'
        : merged.config.torchDtype === 'float16'
          ? 'float16'
          : 'float32');
    const verification = req.skipVerification ? undefined : await verifyMerge(model, outDir, stored);
    const artifact: Artifact = {
      id,
      name: req.name || `${model.jobId || model.baseModelId}-merged`,
      kind: ArtifactKind.MERGED_MODEL,
      baseModelId: model.baseModelId,
      sources: req.adapter ? [req.adapter] : [],
      method: type === undefined ? MethodKind.BITFIT : (PEFT_METHOD[type] ?? MethodKind.UNSPECIFIED),
      dtype: protoDtype(stored),
      location: {
        path: outDir,
        sizeBytes: await dirSize(outDir),
        sha256: createHash('sha256')
          .update(await readFile(join(outDir, 'model.safetensors')))
          .digest('hex'),
      },
      ...(verification && { verification }),
      createdAt: new Date(),
    };
    await deps.artifacts.insert(artifact);
    return artifact;
  } catch (err) {
    await rm(outDir, { recursive: true, force: true });
    throw err;
  }
}
