import { describe, expect, it } from 'vitest';
import {
  CreateFineTuneJobRequest,
  DatasetServiceDefinition,
  decodeJobEvent,
  EvaluatorServiceDefinition,
  encodeJobEvent,
  ImportDatasetRequest,
  InvalidJobEventError,
  InvalidSubjectTokenError,
  type JobEvent,
  JobEventEnvelope,
  JobProgress,
  jobSubject,
  LoraBias,
  Metric,
  OptimizerType,
  Precision,
  parseJobSubject,
  Quantization,
  TrainerServiceDefinition,
} from './index.js';

// Values JavaScript numbers cannot hold exactly: a contract that passed them through `number` would corrupt them.
const BEYOND_2_53 = 2n ** 53n + 1n;
const NEAR_INT64_MAX = 2n ** 63n - 7n;
const NEAR_UINT64_MAX = 2n ** 64n - 3n;

describe('CreateFineTuneJobRequest', () => {
  it('round-trips a LoRA method and 64-bit fields beyond 2^53', () => {
    const request = CreateFineTuneJobRequest.fromPartial({
      idempotencyKey: 'create-1',
      baseModelId: 'bm_1',
      datasetId: 'ds_1',
      method: {
        config: {
          $case: 'lora',
          value: {
            r: 16,
            loraAlpha: 32,
            loraDropout: 0.05,
            targetModules: ['q_proj', 'v_proj'],
            bias: LoraBias.LORA_ONLY,
            useRslora: true,
            useDora: false,
            modulesToSave: ['lm_head'],
            layersToTransform: [0, 3],
          },
        },
      },
      hyperparameters: {
        duration: { $case: 'maxSteps', value: NEAR_INT64_MAX },
        learningRate: 2e-4,
        batchSize: 4,
        gradientAccumulationSteps: 8,
        optimizer: { type: OptimizerType.ADAMW, beta1: 0.9, beta2: 0.95, epsilon: 1e-8 },
        warmup: { $case: 'warmupSteps', value: BEYOND_2_53 },
        maxGradNorm: 0,
        seed: 0,
        evalEverySteps: BEYOND_2_53 + 2n,
        saveEverySteps: BEYOND_2_53 + 4n,
        precision: Precision.BF16,
        quantization: Quantization.INT4,
        gradientCheckpointing: true,
      },
      evaluationMetrics: [Metric.LOSS, Metric.ACCURACY],
      labels: { team: 'search' },
    });

    const decoded = CreateFineTuneJobRequest.decode(CreateFineTuneJobRequest.encode(request).finish());

    expect(decoded).toEqual(request);
    expect(decoded.method?.config).toEqual(request.method?.config);
    expect(decoded.method?.config?.$case).toBe('lora');
    expect(decoded.hyperparameters?.duration).toEqual({ $case: 'maxSteps', value: NEAR_INT64_MAX });
    expect(decoded.hyperparameters?.warmup).toEqual({ $case: 'warmupSteps', value: BEYOND_2_53 });
    expect(typeof decoded.hyperparameters?.evalEverySteps).toBe('bigint');
    // Presence survives: an explicit 0 (clipping off, seed 0) is not the same as "use the default".
    expect(decoded.hyperparameters?.maxGradNorm).toBe(0);
    expect(decoded.hyperparameters?.seed).toBe(0);
    expect(decoded.hyperparameters?.weightDecay).toBe(0);
    expect(decoded.hyperparameters?.earlyStoppingPatience).toBe(0);
  });

  it('leaves optional settings absent when they were not given', () => {
    const bare = CreateFineTuneJobRequest.decode(
      CreateFineTuneJobRequest.encode(
        CreateFineTuneJobRequest.fromPartial({
          idempotencyKey: 'k',
          method: { config: { $case: 'ia3', value: {} } },
          hyperparameters: { duration: { $case: 'epochs', value: 1.5 } },
        }),
      ).finish(),
    );
    expect(bare.hyperparameters?.learningRate).toBeUndefined();
    expect(bare.hyperparameters?.maxGradNorm).toBeUndefined();
    expect(bare.hyperparameters?.seed).toBeUndefined();
    expect(bare.hyperparameters?.warmup).toBeUndefined();
    expect(bare.hyperparameters?.duration).toEqual({ $case: 'epochs', value: 1.5 });
    expect(bare.method?.config?.$case).toBe('ia3');
  });
});

describe('JobProgress', () => {
  const progress = JobProgress.fromPartial({
    jobId: 'job_1',
    sequence: NEAR_UINT64_MAX,
    step: BEYOND_2_53,
    totalSteps: NEAR_INT64_MAX,
    epoch: 1.25,
    loss: 1.875,
    learningRate: 1.5e-4,
    gradNorm: 0.75,
    tokensPerSecond: 1234.5,
    tokensSeen: BEYOND_2_53 + 10n,
    elapsedSeconds: 61.5,
    remainingSeconds: 0,
    peakMemoryBytes: BEYOND_2_53 + 20n,
    occurredAt: new Date('2025-01-02T03:04:05.678Z'),
  });

  it('round-trips with a sequence beyond 2^53', () => {
    const decoded = JobProgress.decode(JobProgress.encode(progress).finish());
    expect(decoded).toEqual(progress);
    expect(decoded.sequence).toBe(NEAR_UINT64_MAX);
    expect(decoded.sequence > BigInt(Number.MAX_SAFE_INTEGER)).toBe(true);
    expect(decoded.step).toBe(BEYOND_2_53);
    expect(decoded.remainingSeconds).toBe(0);
    expect(decoded.validationLoss).toBeUndefined();
    expect(decoded.occurredAt?.toISOString()).toBe('2025-01-02T03:04:05.678Z');
  });

  it('keeps an unset validation loss apart from a validation loss of 0', () => {
    const withZero = JobProgress.decode(JobProgress.encode({ ...progress, validationLoss: 0 }).finish());
    expect(withZero.validationLoss).toBe(0);
  });

  it('is framed on its own subject and read back as an envelope', () => {
    const event: JobEvent = { $case: 'progress', value: progress };
    const encoded = encodeJobEvent(event);
    expect(encoded.subject).toBe('job.job_1.progress');
    expect(encoded.typeName).toBe('tunemesh.v1.JobProgress');
    expect(encoded.messageId).toBe(`job_1:${NEAR_UINT64_MAX}`);

    const envelope = decodeJobEvent(encoded.subject, encoded.data);
    expect(envelope).toEqual({ jobId: 'job_1', sequence: NEAR_UINT64_MAX, event });
    expect(JobEventEnvelope.decode(JobEventEnvelope.encode(envelope).finish())).toEqual(envelope);
  });

  it('refuses a payload that names another job than its subject', () => {
    const { data } = encodeJobEvent({ $case: 'progress', value: progress });
    expect(() => decodeJobEvent('job.job_2.progress', data)).toThrow(InvalidJobEventError);
    expect(() => decodeJobEvent('dataset.ready', data)).toThrow(InvalidJobEventError);
  });
});

describe('subjects', () => {
  it('builds and parses job subjects', () => {
    expect(jobSubject('job_9', 'completed')).toBe('job.job_9.completed');
    expect(parseJobSubject('job.job_9.completed')).toEqual({ jobId: 'job_9', kind: 'completed' });
    expect(parseJobSubject('job.job_9.unknown')).toBeUndefined();
    expect(parseJobSubject('job.*.completed')).toBeUndefined();
  });

  it('refuses ids that would split a subject or act as a wildcard', () => {
    for (const bad of ['', 'a.b', '*', 'x>', 'a b']) {
      expect(() => jobSubject(bad, 'progress')).toThrow(InvalidSubjectTokenError);
    }
  });
});

describe('ImportDatasetRequest', () => {
  it('carries a header or a chunk of bytes', () => {
    const chunk = ImportDatasetRequest.fromPartial({ payload: { $case: 'chunk', value: new Uint8Array([1, 2, 255]) } });
    const decoded = ImportDatasetRequest.decode(ImportDatasetRequest.encode(chunk).finish());
    // bytes are typed Uint8Array (not Buffer) so that callers outside Node's Buffer can fill them.
    if (decoded.payload?.$case !== 'chunk') throw new Error(`expected a chunk, got ${decoded.payload?.$case}`);
    expect(decoded.payload.value).toBeInstanceOf(Uint8Array);
    expect([...decoded.payload.value]).toEqual([1, 2, 255]);
  });
});

// The method table each service must serve: [method, client streams, server streams].
type MethodTable = readonly (readonly [string, boolean, boolean])[];

interface ServiceDefinitionShape {
  readonly fullName: string;
  readonly methods: Record<
    string,
    { readonly name: string; readonly requestStream: boolean; readonly responseStream: boolean }
  >;
}

function methodTable(definition: ServiceDefinitionShape): MethodTable {
  return Object.values(definition.methods).map((m) => [m.name, m.requestStream, m.responseStream] as const);
}

describe('service definitions', () => {
  it('DatasetService', () => {
    expect(DatasetServiceDefinition.fullName).toBe('tunemesh.v1.DatasetService');
    expect(methodTable(DatasetServiceDefinition)).toEqual([
      ['ImportDataset', true, false],
      ['ImportDatasetFromPath', false, false],
      ['GetDataset', false, false],
      ['ListDatasets', false, false],
      ['DeleteDataset', false, false],
      ['PreviewDataset', false, false],
      ['StreamExamples', false, true],
      ['StreamBatches', false, true],
    ]);
  });

  it('TrainerService', () => {
    expect(TrainerServiceDefinition.fullName).toBe('tunemesh.v1.TrainerService');
    expect(methodTable(TrainerServiceDefinition)).toEqual([
      ['RegisterBaseModel', false, false],
      ['GetBaseModel', false, false],
      ['ListBaseModels', false, false],
      ['CreateFineTuneJob', false, false],
      ['GetFineTuneJob', false, false],
      ['ListFineTuneJobs', false, false],
      ['CancelFineTuneJob', false, false],
      ['StreamJobProgress', false, true],
      ['ListCheckpoints', false, false],
      ['ListTrainerNodes', false, false],
    ]);
  });

  it('EvaluatorService', () => {
    expect(EvaluatorServiceDefinition.fullName).toBe('tunemesh.v1.EvaluatorService');
    expect(methodTable(EvaluatorServiceDefinition)).toEqual([
      ['EvaluateAdapter', false, false],
      ['GetEvaluation', false, false],
      ['ListEvaluations', false, false],
      ['CancelEvaluation', false, false],
      ['GetLeaderboard', false, false],
      ['CompareAdapters', false, false],
      ['MergeAdapter', false, false],
      ['CombineAdapters', false, false],
      ['ExportModel', false, false],
      ['Generate', false, false],
      ['StreamGenerate', false, true],
      ['GetArtifact', false, false],
      ['ListArtifacts', false, false],
    ]);
  });
});
