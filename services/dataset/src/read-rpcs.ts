// The RPCs that read a stored dataset: PreviewDataset, StreamExamples, StreamBatches. Tokenisation is the
// engine's (tokenizeRow with the dataset's template settings); streams are async generators, so gRPC's flow
// control paces them, and they stop when the call is cancelled.

import { collate, IGNORE_INDEX, type TokenizeRowsOptions, type Tokenizer, tokenizeRow } from '@tunemesh/engine';
import { FailedPreconditionError, InvalidArgumentError, NotFoundError } from '@tunemesh/kit';
import {
  DatasetSplit,
  PaddingStrategy,
  type PreviewDatasetRequest,
  type PreviewDatasetResponse,
  type StreamBatchesRequest,
  type StreamBatchesResponse,
  type StreamExamplesRequest,
  type StreamExamplesResponse,
  type TemplateSettings,
  type TokenizerRef,
} from '@tunemesh/proto';
import type { BaseModelDir } from './base-models.js';
import { settingsFromProto } from './convert.js';
import { tokenizerFor, validateOptions } from './import/importer.js';
import type { ImportSettings } from './import/settings.js';
import { resolveInRoots } from './paths.js';
import type { ArtefactStore } from './store/artefacts.js';
import type { DatasetRecord, DatasetRecords } from './store/records.js';
import { type SplitName, StoredDataset } from './stored.js';

export interface ReadDeps {
  records: DatasetRecords;
  artefacts: ArtefactStore;
  modelRoots: readonly string[];
  baseModelDir?: BaseModelDir;
}

/** Examples read from disk per step of a stream: small enough to keep memory flat, large enough to batch reads. */
const READ_AHEAD = 64;

function splitName(s: DatasetSplit): SplitName {
  if (s === DatasetSplit.VALIDATION) return 'validation';
  if (s === DatasetSplit.ALL) return 'all';
  return 'train';
}

async function record(deps: ReadDeps, id: string, mustBeReady: boolean): Promise<DatasetRecord> {
  const r = await deps.records.get(id);
  if (r === undefined) throw new NotFoundError(`dataset ${JSON.stringify(id)} does not exist`);
  if (r.status === 'VALIDATING') throw new FailedPreconditionError(`dataset ${id} is still being imported`);
  if (mustBeReady && r.status !== 'READY') throw new FailedPreconditionError(`dataset ${id} is ${r.status}, not READY`);
  if (r.error !== undefined) throw new FailedPreconditionError(`dataset ${id} has no stored data: ${r.error.message}`);
  return r;
}

async function tokenizer(deps: ReadDeps, r: DatasetRecord, ref: TokenizerRef | undefined): Promise<Tokenizer> {
  const src = ref?.source;
  if (src?.$case === 'baseModelId') {
    if (deps.baseModelDir === undefined)
      throw new InvalidArgumentError('tokenizer.base_model_id: this dataset service has no trainer service to ask', {
        field: 'tokenizer',
      });
    return tokenizerFor(await deps.baseModelDir(src.value, 'tokenizer.base_model_id'));
  }
  if (src?.$case === 'modelPath')
    return tokenizerFor(await resolveInRoots(src.value, deps.modelRoots, 'tokenizer.model_path', 'dir'));
  const own = (r.options as unknown as ImportSettings).tokenizer;
  if (own === undefined) throw new FailedPreconditionError(`dataset ${r.id} has no tokenizer; give one in the request`);
  return tokenizerFor(own.dir);
}

/** The engine's tokenise options for this dataset (optionally with a template override) and a length limit. */
async function tokenizeOptions(
  deps: ReadDeps,
  r: DatasetRecord,
  tok: Tokenizer,
  maxLength: number,
  override?: TemplateSettings,
): Promise<{ opts: TokenizeRowsOptions; trainOnPrompt: boolean }> {
  let settings = r.options as unknown as ImportSettings;
  if (override !== undefined) {
    const o = await settingsFromProto(
      {
        name: '',
        fileFormat: 0,
        format: 0,
        maxLength: 0,
        overlengthPolicy: 0,
        removeDuplicates: false,
        template: override,
      },
      deps.modelRoots,
    );
    settings = { ...settings, template: o.template };
  }
  const v = validateOptions(settings, tok, r.name);
  const limit =
    maxLength > 0
      ? maxLength
      : (settings.maxLength ??
        (tok.modelMaxLength !== undefined && tok.modelMaxLength < 10_000_000 ? tok.modelMaxLength : undefined));
  return {
    opts: { ...v.template, file: r.name, ...(limit !== undefined && { maxLength: limit }) },
    trainOnPrompt: settings.template.trainOnPrompt === true,
  };
}

async function open(deps: ReadDeps, r: DatasetRecord): Promise<StoredDataset> {
  return StoredDataset.open(deps.artefacts.dir(r.contentSha256));
}

function firstLoss(labels: readonly number[]): number {
  const k = labels.findIndex((l) => l !== IGNORE_INDEX);
  return k < 0 ? labels.length : k;
}

export async function previewDataset(deps: ReadDeps, req: PreviewDatasetRequest): Promise<PreviewDatasetResponse> {
  const r = await record(deps, req.datasetId, false);
  const count = req.count === 0 ? 5 : req.count;
  if (count > 100) throw new InvalidArgumentError('count must be at most 100', { field: 'count' });
  const tok = await tokenizer(deps, r, req.tokenizer);
  const { opts, trainOnPrompt } = await tokenizeOptions(deps, r, tok, 0, req.templateOverride);
  const data = await open(deps, r);
  const ids = data.indices(splitName(req.split));
  const offset = Number(req.offset);
  const examples = await data.read(ids.slice(offset, offset + count));
  return {
    splitSize: BigInt(ids.length),
    examples: examples.map((e, k) => {
      const t = tokenizeRow(e.row, tok, opts);
      const labels = trainOnPrompt ? [...t.input_ids] : t.labels;
      const cut = firstLoss(labels);
      return {
        index: BigInt(offset + k),
        sourceLine: BigInt(e.line),
        renderedText: tok.decode(t.input_ids, { skipSpecialTokens: false }),
        promptText: tok.decode(t.input_ids.slice(0, cut), { skipSpecialTokens: false }),
        tokens: t.input_ids.map((id, j) => ({
          id,
          text: tok.decode([id], { skipSpecialTokens: false }),
          loss: labels[j] !== IGNORE_INDEX,
        })),
        lossTokenCount: BigInt(labels.filter((l, j) => j > 0 && l !== IGNORE_INDEX).length),
        truncated: t.truncated,
      };
    }),
  };
}

export async function* streamExamples(
  deps: ReadDeps,
  req: StreamExamplesRequest,
  signal: AbortSignal,
): AsyncGenerator<StreamExamplesResponse> {
  const r = await record(deps, req.datasetId, true);
  const tok = await tokenizer(deps, r, req.tokenizer);
  const { opts, trainOnPrompt } = await tokenizeOptions(deps, r, tok, req.maxLength);
  const data = await open(deps, r);
  const order = data.order(splitName(req.split), req.shuffle, req.seed ?? 42, req.epoch);
  const start = Number(req.startPosition);
  const end = req.limit > 0n ? Math.min(order.length, start + Number(req.limit)) : order.length;
  for (let pos = start; pos < end; pos += READ_AHEAD) {
    const chunk = await data.read(order.slice(pos, Math.min(end, pos + READ_AHEAD)));
    for (const [k, e] of chunk.entries()) {
      if (signal.aborted) return;
      const t = tokenizeRow(e.row, tok, opts);
      const labels = trainOnPrompt ? [...t.input_ids] : t.labels;
      const cut = firstLoss(labels);
      yield {
        example: {
          position: BigInt(pos + k),
          index: BigInt(e.index),
          sourceLine: BigInt(e.line),
          inputIds: t.input_ids,
          labels,
          truncated: t.truncated,
          promptText: req.includeText ? tok.decode(t.input_ids.slice(0, cut), { skipSpecialTokens: true }) : '',
          referenceText: req.includeText
            ? tok.decode(
                t.input_ids.slice(cut).filter((_, j) => labels[cut + j] !== IGNORE_INDEX),
                { skipSpecialTokens: true },
              )
            : '',
          label: e.row.format === 'classification' ? String(e.row.label) : '',
        },
      };
    }
  }
}

export async function* streamBatches(
  deps: ReadDeps,
  req: StreamBatchesRequest,
  signal: AbortSignal,
): AsyncGenerator<StreamBatchesResponse> {
  if (req.batchSize < 1) throw new InvalidArgumentError('batch_size must be at least 1', { field: 'batch_size' });
  const r = await record(deps, req.datasetId, true);
  const tok = await tokenizer(deps, r, req.tokenizer);
  const { opts, trainOnPrompt } = await tokenizeOptions(deps, r, tok, req.maxLength);
  if (req.padding === PaddingStrategy.MAX_LENGTH && opts.maxLength === undefined) {
    throw new InvalidArgumentError(
      'padding MAX_LENGTH needs a max_length (none on the request, dataset or tokenizer)',
      { field: 'padding' },
    );
  }
  const padId = req.padTokenId ?? tok.padTokenId ?? tok.eosTokenId ?? 0;
  const data = await open(deps, r);
  const order = data.order(splitName(req.split), req.shuffle, req.seed ?? 42, req.epoch);
  const size = req.batchSize;
  const perEpoch = req.dropLast ? Math.floor(order.length / size) : Math.ceil(order.length / size);
  const start = Number(req.startBatch);
  const end = req.limit > 0n ? Math.min(perEpoch, start + Number(req.limit)) : perEpoch;
  for (let b = start; b < end; b++) {
    if (signal.aborted) return;
    const examples = await data.read(order.slice(b * size, (b + 1) * size));
    const rows = examples.map((e) => {
      const t = tokenizeRow(e.row, tok, opts);
      return { input_ids: t.input_ids, labels: trainOnPrompt ? [...t.input_ids] : t.labels };
    });
    const batch = collate(rows, {
      padId,
      padSide: 'right',
      ...(req.padding === PaddingStrategy.MAX_LENGTH && { padToMultipleOf: opts.maxLength }),
    });
    const mask = new Uint8Array(batch.attentionMask.length);
    let real = 0;
    for (let k = 0; k < mask.length; k++) {
      mask[k] = batch.attentionMask[k] === 1n ? 1 : 0;
      real += mask[k] as number;
    }
    yield {
      batch: {
        index: BigInt(b),
        firstPosition: BigInt(b * size),
        rows: batch.batch,
        seqLen: batch.seq,
        inputIds: Array.from(batch.inputIds, Number),
        attentionMask: mask,
        labels: Array.from(batch.labels, Number),
        tokenCount: BigInt(real),
        lossTokenCount: BigInt(batch.labelTokens),
      },
      batchesPerEpoch: BigInt(perEpoch),
    };
  }
}
