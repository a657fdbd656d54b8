// Proto ↔ domain translation for the dataset service, in one place: enums, import options, records.

import type {
  DataFormat,
  FileFormat as EngineFileFormat,
  FindingKind as EngineKind,
  ColumnMapping as EngineMapping,
  ValidationReport as EngineReport,
  Finding,
} from '@tunemesh/engine';
import { InvalidArgumentError } from '@tunemesh/kit';
import {
  type ColumnMapping,
  type Dataset,
  DatasetFormat,
  DatasetSplit,
  DatasetStatus,
  FileFormat,
  FindingKind,
  FindingSeverity,
  type ImportOptions,
  OverlengthPolicy,
  SplitInfo_Source,
  type SplitStatistics,
  type TemplateSettings,
  type TokenizerRef,
  type ValidationFinding,
  type ValidationReport,
} from '@tunemesh/proto';
import type { BaseModelDir } from './base-models.js';
import { DEFAULT_SEED, type ImportSettings, type SplitSetting } from './import/settings.js';
import { resolveInRoots } from './paths.js';
import type { DatasetRecord, SplitStatisticsRecord } from './store/records.js';

const FORMAT_TO_PROTO: Record<DataFormat, DatasetFormat> = {
  alpaca: DatasetFormat.ALPACA,
  chat: DatasetFormat.CHAT,
  text: DatasetFormat.TEXT,
  classification: DatasetFormat.CLASSIFICATION,
  pretokenized: DatasetFormat.PRETOKENIZED,
};
const FILE_TO_PROTO: Record<EngineFileFormat, FileFormat> = {
  jsonl: FileFormat.JSONL,
  json: FileFormat.JSON,
  csv: FileFormat.CSV,
  parquet: FileFormat.PARQUET,
};

function invert<K extends string, V extends number>(m: Record<K, V>): Map<number, K> {
  return new Map(Object.entries(m).map(([k, v]) => [v as number, k as K]));
}
const FORMAT_FROM_PROTO = invert(FORMAT_TO_PROTO);
const FILE_FROM_PROTO = invert(FILE_TO_PROTO);

export function formatToProto(f: DataFormat | undefined): DatasetFormat {
  return f === undefined ? DatasetFormat.UNSPECIFIED : FORMAT_TO_PROTO[f];
}

export function formatFromProto(f: DatasetFormat, field: string): DataFormat | undefined {
  if (f === DatasetFormat.UNSPECIFIED) return undefined;
  const out = FORMAT_FROM_PROTO.get(f);
  if (out === undefined) throw new InvalidArgumentError(`unknown dataset format ${f}`, { field });
  return out;
}

function fileFormatFromProto(f: FileFormat): EngineFileFormat | undefined {
  if (f === FileFormat.UNSPECIFIED) return undefined;
  const out = FILE_FROM_PROTO.get(f);
  if (out === undefined) throw new InvalidArgumentError(`unknown file format ${f}`, { field: 'options.file_format' });
  return out;
}

function mappingFromProto(m: ColumnMapping | undefined): EngineMapping | undefined {
  if (m === undefined) return undefined;
  const out: EngineMapping = {};
  const { inputIds, ...rest } = m;
  for (const [k, v] of Object.entries(rest)) if (v !== '') out[k as keyof EngineMapping] = v;
  if (inputIds !== '') out.input_ids = inputIds;
  return Object.keys(out).length === 0 ? undefined : out;
}

function mappingToProto(m: EngineMapping | undefined): ColumnMapping {
  const get = (k: keyof EngineMapping) => m?.[k] ?? '';
  return {
    instruction: get('instruction'),
    input: get('input'),
    output: get('output'),
    system: get('system'),
    messages: get('messages'),
    role: get('role'),
    content: get('content'),
    weight: get('weight'),
    text: get('text'),
    label: get('label'),
    inputIds: get('input_ids'),
    labels: get('labels'),
  };
}

function splitFromProto(options: ImportOptions): SplitSetting {
  const h = options.split?.holdout;
  if (h === undefined) return { kind: 'none' };
  if (h.$case === 'validationFraction') {
    if (!(h.value > 0 && h.value < 1)) {
      throw new InvalidArgumentError(`validation_fraction must be in (0, 1), got ${h.value}`, {
        field: 'options.split.validation_fraction',
      });
    }
    return { kind: 'fraction', fraction: h.value };
  }
  return { kind: 'count', count: Number(h.value) };
}

/** ImportOptions → settings, resolving a tokenizer model path inside the model roots. */
export async function settingsFromProto(
  options: ImportOptions | undefined,
  modelRoots: readonly string[],
  baseModelDir?: BaseModelDir,
): Promise<ImportSettings> {
  const o: ImportOptions = options ?? {
    name: '',
    fileFormat: 0,
    format: 0,
    maxLength: 0,
    overlengthPolicy: 0,
    removeDuplicates: false,
  };
  const t: TemplateSettings | undefined = o.template;
  let tokenizer: ImportSettings['tokenizer'];
  const src = o.tokenizer?.source;
  if (src?.$case === 'baseModelId') {
    const field = 'options.tokenizer.base_model_id';
    if (baseModelDir === undefined)
      throw new InvalidArgumentError(`${field}: this dataset service has no trainer service to ask`, { field });
    tokenizer = { ref: src.value, dir: await baseModelDir(src.value, field) };
  }
  if (src?.$case === 'modelPath') {
    tokenizer = {
      ref: src.value,
      dir: await resolveInRoots(src.value, modelRoots, 'options.tokenizer.model_path', 'dir'),
    };
  }
  const fileFormat = fileFormatFromProto(o.fileFormat);
  const format = formatFromProto(o.format, 'options.format');
  const mapping = mappingFromProto(o.columnMapping);
  const labelWords = t !== undefined && Object.keys(t.labelWords).length > 0 ? t.labelWords : undefined;
  return {
    ...(fileFormat !== undefined && { fileFormat }),
    ...(format !== undefined && { format }),
    ...(mapping !== undefined && { mapping }),
    template: {
      ...(t !== undefined && t.promptTemplate !== '' && { promptTemplate: t.promptTemplate }),
      ...(labelWords !== undefined && { labelWords }),
      ...(t !== undefined &&
        t.useModelChatTemplate === false &&
        t.chatTemplate !== '' && { chatTemplate: t.chatTemplate }),
      ...(t?.trainOnPrompt === true && { trainOnPrompt: true }),
      ...(t !== undefined && t.defaultSystemPrompt !== '' && { defaultSystemPrompt: t.defaultSystemPrompt }),
      ...(t?.appendEos !== undefined && { appendEos: t.appendEos }),
    },
    split: splitFromProto(o),
    seed: o.split?.seed ?? DEFAULT_SEED,
    ...(tokenizer !== undefined && { tokenizer }),
    ...(o.maxLength > 0 && { maxLength: o.maxLength }),
    overlength: o.overlengthPolicy === OverlengthPolicy.DROP ? 'drop' : 'truncate',
    removeDuplicates: o.removeDuplicates,
  };
}

export function findingToProto(f: Finding): ValidationFinding {
  return {
    line: BigInt(f.line),
    field: f.field ?? '',
    kind: FindingKind[f.kind as EngineKind],
    severity: f.severity === 'error' ? FindingSeverity.ERROR : FindingSeverity.WARNING,
    message: f.message,
    inValidationFile: f.inValidationFile === true,
  };
}

export function reportToProto(r: EngineReport): ValidationReport {
  return {
    findings: r.findings.map(findingToProto),
    totals: r.totals.map((t) => ({
      kind: FindingKind[t.kind],
      severity: t.severity === 'error' ? FindingSeverity.ERROR : FindingSeverity.WARNING,
      count: BigInt(t.count),
    })),
    errorCount: BigInt(r.errorCount),
    warningCount: BigInt(r.warningCount),
    findingsTruncated: r.findingsTruncated,
  };
}

function splitStatsToProto(s: SplitStatisticsRecord): SplitStatistics {
  const l = s.lengths;
  return {
    split: s.split === 'train' ? DatasetSplit.TRAIN : DatasetSplit.VALIDATION,
    exampleCount: BigInt(s.exampleCount),
    totalTokens: BigInt(l?.totalTokens ?? 0),
    lossTokens: BigInt(l?.lossTokens ?? 0),
    lossTokenFraction: l?.lossTokenFraction ?? 0,
    minLength: BigInt(l?.minLength ?? 0),
    meanLength: l?.meanLength ?? 0,
    p50Length: BigInt(l?.p50Length ?? 0),
    p95Length: BigInt(l?.p95Length ?? 0),
    maxLength: BigInt(l?.maxLength ?? 0),
    lengthHistogram: {
      buckets: (l?.histogram ?? []).map((b) => ({
        lowerBound: BigInt(b.start),
        upperBound: BigInt(b.end),
        count: BigInt(b.count),
      })),
    },
    labelCounts: Object.fromEntries(Object.entries(s.labelCounts).map(([k, v]) => [k, BigInt(v)])),
  };
}

const STATUS: Record<DatasetRecord['status'], DatasetStatus> = {
  VALIDATING: DatasetStatus.VALIDATING,
  READY: DatasetStatus.READY,
  FAILED: DatasetStatus.FAILED,
};
const SPLIT_SOURCE: Record<DatasetRecord['split']['source'], SplitInfo_Source> = {
  NONE: SplitInfo_Source.NONE,
  FRACTION: SplitInfo_Source.FRACTION,
  COUNT: SplitInfo_Source.COUNT,
  FILE: SplitInfo_Source.FILE,
};

export function datasetToProto(r: DatasetRecord): Dataset {
  const settings = r.options as unknown as ImportSettings;
  const t = settings.template ?? {};
  const template: TemplateSettings = {
    promptTemplate: t.promptTemplate ?? '',
    labelWords: t.labelWords ?? {},
    useModelChatTemplate: t.chatTemplate === undefined,
    chatTemplate: t.chatTemplate ?? '',
    defaultSystemPrompt: t.defaultSystemPrompt ?? '',
    trainOnPrompt: t.trainOnPrompt === true,
    appendEos: t.appendEos ?? true,
  };
  const tokenizer: TokenizerRef | undefined =
    settings.tokenizer === undefined ? undefined : { source: { $case: 'modelPath', value: settings.tokenizer.ref } };
  const rows = r.rows;
  return {
    id: r.id,
    name: r.name,
    status: STATUS[r.status],
    format: formatToProto(r.format),
    fileFormat: FILE_TO_PROTO[r.fileFormat],
    contentSha256: r.contentSha256,
    sourceSizeBytes: BigInt(r.sourceSizeBytes),
    rows: {
      total: BigInt(rows.total),
      kept: BigInt(rows.kept),
      train: BigInt(rows.train),
      validation: BigInt(rows.validation),
      duplicates: BigInt(rows.duplicates),
      truncated: BigInt(rows.truncated),
      dropped: BigInt(rows.dropped),
    },
    split: {
      source: SPLIT_SOURCE[r.split.source],
      validationFraction: r.split.fraction,
      validationCount: BigInt(r.split.count),
      seed: r.split.seed,
    },
    statistics: { tokenizer: r.statistics.tokenizer, splits: r.statistics.splits.map(splitStatsToProto) },
    validationReport: reportToProto(r.report),
    template,
    columnMapping: mappingToProto(settings.mapping),
    ...(tokenizer !== undefined && { tokenizer }),
    maxLength: settings.maxLength ?? 0,
    overlengthPolicy: settings.overlength === 'drop' ? OverlengthPolicy.DROP : OverlengthPolicy.TRUNCATE,
    ...(r.error !== undefined && {
      error: { type: r.error.type, message: r.error.message, retryable: false, fieldViolations: [], metadata: {} },
    }),
    createdAt: r.createdAt,
    ...(r.completedAt !== undefined && { completedAt: r.completedAt }),
  };
}
