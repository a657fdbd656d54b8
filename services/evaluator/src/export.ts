// ExportModel: a model for deployment. SAFETENSORS: a Hugging Face directory in the chosen dtype. ONNX: the
// engine's decode-mode graph (input_ids, attention_mask, position_ids, past_key_values.{i}.key/value →
// logits, present.{i}.key/value, Hugging Face's names), so onnxruntime serves it with a KV cache and no
// tunemesh code, saved with the tokenizer and config beside it. Each export records its size and a greedy
// 32-token smoke generation.
import { createHash, randomUUID } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  generate,
  loadModelDir,
  loadTokenizer,
  MODEL_DIR_FILES,
  mergeAdapter,
  openModel,
  PeftError,
  saveModel,
  writeHfModelDir,
} from '@tunemesh/engine';
import { FailedPreconditionError, InvalidArgumentError } from '@tunemesh/kit';
import {
  type Artifact,
  ArtifactKind,
  Dtype,
  ExportFormat,
  type ExportModelRequest,
  MethodKind,
  type SmokeGeneration,
} from '@tunemesh/proto';
import { weightDType } from './merge.js';
import { type ModelPaths, resolveModel } from './models.js';
import type { ArtifactRecords } from './store/artifacts.js';

export const DEFAULT_SMOKE_PROMPT = 'Hello, my name is';
export const ONNX_FILE = 'model.onnx';

async function smoke(dir: string, prompt: string): Promise<SmokeGeneration> {
  const tokenizer = await loadTokenizer(dir);
  const model = await openModel(dir, { threads: 1 });
  try {
    const [gen] = await generate(await model.decoder(), [tokenizer.encode(prompt)], {
      maxNewTokens: 32,
      greedy: true,
      padId: tokenizer.padTokenId ?? 0,
      stopTokens: tokenizer.stopTokenIds,
    });
    return { prompt, output: tokenizer.decode(gen?.ids ?? [], { skipSpecialTokens: true }) };
  } finally {
    await model.release();
  }
}

/** Total size of a flat artefact directory and the SHA-256 of its main file. */
export async function dirStats(dir: string, main: string): Promise<{ sizeBytes: bigint; sha256: string }> {
  let sizeBytes = 0n;
  for (const f of await readdir(dir)) sizeBytes += BigInt((await stat(join(dir, f))).size);
  const sha256 = createHash('sha256')
    .update(await readFile(join(dir, main)))
    .digest('hex');
  return { sizeBytes, sha256 };
}

export async function exportRpc(
  req: ExportModelRequest,
  deps: { paths: ModelPaths; artifacts: ArtifactRecords; storeDir: string },
): Promise<Artifact> {
  const format = req.format === ExportFormat.UNSPECIFIED ? ExportFormat.SAFETENSORS : req.format;
  if (format !== ExportFormat.SAFETENSORS && format !== ExportFormat.ONNX) {
    throw new InvalidArgumentError(`format ${req.format} is not an export format`, { field: 'format' });
  }
  const requested = weightDType(req.dtype);
  if (format === ExportFormat.ONNX && requested !== undefined && requested !== 'float32') {
    throw new InvalidArgumentError('ONNX export is float32 only (the decode graph computes in float32)', {
      field: 'dtype',
    });
  }
  const model = await resolveModel(req.model, deps.paths);
  const id = `ar_${randomUUID().replace(/-/g, '').slice(0, 20)}`;
  const outDir = join(deps.storeDir, 'artifacts', id);
  // An adapter is merged first, into a scratch directory that is removed afterwards.
  const scratch = model.adapterDir ? await mkdtemp(join(tmpdir(), 'tm-export-')) : undefined;
  try {
    let source = model.baseDir;
    if (model.adapterDir && scratch) {
      try {
        await mergeAdapter(model.baseDir, model.adapterDir, join(scratch, 'merged'));
      } catch (err) {
        // an adapter that does not merge (prompt learning, bottleneck adapters) or does not fit its base
        if (err instanceof PeftError)
          throw new FailedPreconditionError(`cannot export: ${err.message}`, { cause: err });
        throw err;
      }
      source = join(scratch, 'merged');
    }
    let dtype = Dtype.F32;
    if (format === ExportFormat.SAFETENSORS) {
      const m = await loadModelDir(source, { dtype: 'float32' });
      const d =
        requested ??
        (m.config.torchDtype === 'bfloat16' ? 'bfloat16' : m.config.torchDtype === 'float16' ? 'float16' : 'float32');
      await writeHfModelDir(outDir, m.weights, { baseDir: source, dtype: d });
      dtype = d === 'bfloat16' ? Dtype.BF16 : d === 'float16' ? Dtype.F16 : Dtype.F32;
    } else {
      await mkdir(outDir, { recursive: true });
      const m = await openModel(source, { threads: 1 });
      try {
        await saveModel(m.lm.build('decode'), join(outDir, ONNX_FILE));
      } finally {
        await m.release();
      }
      for (const f of MODEL_DIR_FILES) {
        await copyFile(join(source, f), join(outDir, f)).catch(() => undefined);
      }
    }
    // The smoke run reads the exported safetensors directory, or (ONNX) the source the graph was built from.
    const smokeGeneration = req.skipSmokeTest
      ? undefined
      : await smoke(format === ExportFormat.SAFETENSORS ? outDir : source, req.smokePrompt || DEFAULT_SMOKE_PROMPT);
    const artifact: Artifact = {
      id,
      name: req.name || `${model.jobId || model.baseModelId}-${format === ExportFormat.ONNX ? 'onnx' : 'hf'}`,
      kind: format === ExportFormat.ONNX ? ArtifactKind.ONNX_MODEL : ArtifactKind.MERGED_MODEL,
      baseModelId: model.baseModelId,
      sources: req.model ? [req.model] : [],
      method: MethodKind.UNSPECIFIED,
      dtype,
      location: {
        path: outDir,
        ...(await dirStats(outDir, format === ExportFormat.ONNX ? ONNX_FILE : 'model.safetensors')),
      },
      ...(smokeGeneration && { smokeGeneration }),
      createdAt: new Date(),
    };
    await deps.artifacts.insert(artifact);
    return artifact;
  } catch (err) {
    await rm(outDir, { recursive: true, force: true });
    throw err;
  } finally {
    if (scratch) await rm(scratch, { recursive: true, force: true });
  }
}
