// Field resolvers of the object types: proto message → GraphQL shape, and the cross-service links, which go
// through the per-request loaders (one batched List RPC per link per tick, never one call per row).
import {
  ArtifactKind,
  type ArtifactRef,
  DatasetFormat,
  DatasetSplit,
  DatasetStatus,
  Device,
  type ErrorInfo,
  EvaluationStatus,
  FindingKind,
  FindingSeverity,
  JobFailureCode,
  JobStatus,
  MethodKind,
  Metric,
  type MetricResult,
  TrainerNodeState,
} from '@tunemesh/proto';
import { DATASET_FORMAT_RENAMES, METRIC_RENAMES, toGraphQLEnum, toGraphQLEnumOrNull } from '../enums.js';
import type {
  ArtifactFile,
  ArtifactKind as ArtifactKindName,
  DatasetSplit as DatasetSplitName,
  DatasetStatus as DatasetStatusName,
  ErrorDetail,
  EvaluationStatus as EvaluationStatusName,
  JobProgressSummary as JobProgressSummaryOut,
  JobStatus as JobStatusName,
  MethodKind as MethodKindName,
  MetricName,
  Resolvers,
} from '../generated/resolvers-types.js';

export function artifactFile(ref: ArtifactRef | undefined): ArtifactFile | null {
  return ref === undefined || ref.path === '' ? null : { path: ref.path, sizeBytes: ref.sizeBytes, sha256: ref.sha256 };
}

function errorDetail(e: ErrorInfo | undefined): ErrorDetail | null {
  return e === undefined || (e.type === '' && e.message === '') ? null : { code: e.type, message: e.message };
}

const optionalId = (id: string): string | null => (id === '' ? null : id);

export function metricValues(results: readonly MetricResult[]): { name: MetricName; value: number }[] {
  return results.map((r) => ({
    name: toGraphQLEnum<MetricName>(Metric, r.metric, 'metric', METRIC_RENAMES),
    value: r.value,
  }));
}

export const typeResolvers: Pick<
  Resolvers,
  'Dataset' | 'BaseModel' | 'FineTuneJob' | 'Checkpoint' | 'Evaluation' | 'TrainerNode' | 'Artifact'
> = {
  Dataset: {
    status: (d) => toGraphQLEnum<DatasetStatusName>(DatasetStatus, d.status, 'dataset status'),
    format: (d) => toGraphQLEnumOrNull(DatasetFormat, d.format, 'dataset format', DATASET_FORMAT_RENAMES),
    rows: (d) => d.rows ?? null,
    report: (d) => {
      const r = d.validationReport;
      if (r === undefined) return null;
      return {
        errorCount: r.errorCount,
        warningCount: r.warningCount,
        findingsTruncated: r.findingsTruncated,
        findings: r.findings.map((f) => ({
          severity: toGraphQLEnum(FindingSeverity, f.severity, 'finding severity'),
          kind: toGraphQLEnum(FindingKind, f.kind, 'finding kind'),
          line: f.line === 0n ? null : f.line,
          field: f.field === '' ? null : f.field,
          message: f.message,
        })),
      };
    },
    statistics: (d) => {
      const st = d.statistics;
      if (st === undefined) return null;
      return {
        tokenizer: st.tokenizer === '' ? null : st.tokenizer,
        splits: st.splits.map((sp) => ({
          split: toGraphQLEnum<DatasetSplitName>(DatasetSplit, sp.split, 'dataset split'),
          exampleCount: sp.exampleCount,
          totalTokens: sp.totalTokens,
          lossTokens: sp.lossTokens,
          lossTokenFraction: sp.lossTokenFraction,
          minLength: sp.minLength,
          meanLength: sp.meanLength,
          p50Length: sp.p50Length,
          p95Length: sp.p95Length,
          maxLength: sp.maxLength,
          lengthHistogram: sp.lengthHistogram?.buckets ?? [],
          labelCounts: Object.entries(sp.labelCounts).map(([label, count]) => ({ label, count })),
        })),
      };
    },
    error: (d) => errorDetail(d.error),
    createdAt: (d) => d.createdAt?.toISOString() ?? null,
  },
  BaseModel: {
    parameterCount: (m) => (m.parameterCount === 0n ? null : m.parameterCount),
    contextLength: (m) => (m.contextLength === 0 ? null : m.contextLength),
  },
  FineTuneJob: {
    status: (j) => toGraphQLEnum<JobStatusName>(JobStatus, j.status, 'job status'),
    method: (j) => {
      const c = j.method?.config?.$case;
      if (c === undefined) return null;
      const kinds = {
        full: MethodKind.FULL,
        lora: MethodKind.LORA,
        bitfit: MethodKind.BITFIT,
        promptTuning: MethodKind.PROMPT_TUNING,
        pTuning: MethodKind.P_TUNING,
        prefixTuning: MethodKind.PREFIX_TUNING,
        adapter: MethodKind.ADAPTER,
        ia3: MethodKind.IA3,
      } as const;
      return toGraphQLEnum<MethodKindName>(MethodKind, kinds[c], 'method');
    },
    dataset: (j, _args, { loaders }) => loaders.dataset.load(j.datasetId),
    baseModel: (j, _args, { loaders }) => loaders.baseModel.load(j.baseModelId),
    progress: (j): JobProgressSummaryOut | null =>
      j.progress === undefined
        ? null
        : { ...j.progress, loss: j.progress.loss ?? null, validationLoss: j.progress.validationLoss ?? null },
    error: (j) =>
      j.failure === undefined || j.failure.code === JobFailureCode.UNSPECIFIED
        ? null
        : { code: toGraphQLEnum(JobFailureCode, j.failure.code, 'failure code'), message: j.failure.message },
    adapter: (j) => artifactFile(j.adapter),
    lossCurve: (j) => artifactFile(j.lossCurve),
    trainableParams: (j) => (j.trainableParams === 0n ? null : j.trainableParams),
    totalParams: (j) => (j.totalParams === 0n ? null : j.totalParams),
    checkpoints: (j, _args, { loaders }) => loaders.checkpointsByJob.load(j.id),
    evaluations: (j, _args, { loaders }) => loaders.evaluationsByJob.load(j.id),
    createdAt: (j) => j.createdAt?.toISOString() ?? null,
    finishedAt: (j) => j.finishedAt?.toISOString() ?? null,
  },
  Checkpoint: {
    loss: (c) => c.loss ?? null,
    validationLoss: (c) => c.validationLoss ?? null,
    artifact: (c) => artifactFile(c.artifact),
  },
  Evaluation: {
    status: (e) => toGraphQLEnum<EvaluationStatusName>(EvaluationStatus, e.status, 'evaluation status'),
    jobId: (e) => optionalId(e.jobId),
    job: (e, _args, { loaders }) => (e.jobId === '' ? null : loaders.job.load(e.jobId)),
    dataset: (e, _args, { loaders }) => loaders.dataset.load(e.datasetId),
    metrics: (e) => metricValues(e.results),
    error: (e) => errorDetail(e.error),
  },
  TrainerNode: {
    device: (n) => toGraphQLEnum(Device, n.device, 'device'),
    state: (n) => toGraphQLEnum(TrainerNodeState, n.state, 'node state'),
  },
  Artifact: {
    kind: (a) => toGraphQLEnum<ArtifactKindName>(ArtifactKind, a.kind, 'artifact kind'),
    location: (a) => artifactFile(a.location),
  },
};
