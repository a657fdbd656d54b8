// GraphQL inputs → proto requests. graphql-js has checked types and @oneOf; what is checked here is what the
// schema cannot say (exactly one of several optional fields, ranges), each error naming its input field.
import {
  AdapterNonLinearity,
  AdapterPlacement,
  type CreateFineTuneJobRequest,
  DatasetFormat,
  DatasetSplit,
  Dtype,
  type Hyperparameters,
  type ImportOptions,
  LoraBias,
  type MethodSpec,
  Metric,
  type ModelRef,
  OverlengthPolicy,
  PromptEncoderType,
  PromptTuningInit,
} from '@tunemesh/proto';
import { DATASET_FORMAT_RENAMES, METRIC_RENAMES, toProtoEnum } from './enums.js';
import { badUserInput } from './errors.js';
import type {
  CreateFineTuneJobInput,
  HyperparametersInput,
  ImportDatasetInput,
  MethodInput,
  MetricName,
} from './generated/resolvers-types.js';

type DeepPartialMethod = Partial<MethodSpec>;

/** Exactly one of the named fields is set; returns its name. */
export function exactlyOne<K extends string>(input: Partial<Record<K, unknown>>, keys: readonly K[], path: string): K {
  const set = keys.filter((k) => input[k] !== undefined && input[k] !== null);
  if (set.length !== 1) {
    throw badUserInput(
      `set exactly one of ${keys.join(', ')} (got ${set.length === 0 ? 'none' : set.join(', ')})`,
      path,
    );
  }
  return set[0] as K;
}

function nonNegativeInt(value: number | null | undefined, field: string): number {
  if (value === null || value === undefined) return 0;
  if (!Number.isInteger(value) || value < 0) throw badUserInput(`${field} must be a non-negative integer`, field);
  return value;
}

function probability(value: number | null | undefined, field: string): number {
  if (value === null || value === undefined) return 0;
  if (!(value >= 0 && value < 1)) throw badUserInput(`${field} must be in [0, 1)`, field);
  return value;
}

const list = (v: readonly string[] | null | undefined): string[] => (v ? [...v] : []);

export function metricToProto(name: MetricName): Metric {
  return toProtoEnum(Metric, name, METRIC_RENAMES) as Metric;
}

export function importOptions(input: ImportDatasetInput): ImportOptions {
  const split =
    input.validationSplit === null || input.validationSplit === undefined
      ? undefined
      : {
          holdout: {
            $case: 'validationFraction' as const,
            value: probability(input.validationSplit, 'input.validationSplit'),
          },
          seed: input.seed ?? undefined,
        };
  if (split === undefined && input.seed !== null && input.seed !== undefined) {
    throw badUserInput('seed only applies with validationSplit', 'input.seed');
  }
  return {
    name: input.name,
    fileFormat: 0,
    format: input.format ? (toProtoEnum(DatasetFormat, input.format, DATASET_FORMAT_RENAMES) as DatasetFormat) : 0,
    columnMapping: undefined,
    template: templateSettings(input),
    split,
    tokenizer: input.tokenizerBaseModelId
      ? { source: { $case: 'baseModelId', value: input.tokenizerBaseModelId } }
      : undefined,
    maxLength: nonNegative(input.maxLength, 'input.maxLength'),
    overlengthPolicy:
      input.overlength === 'DROP'
        ? OverlengthPolicy.DROP
        : input.overlength === 'TRUNCATE'
          ? OverlengthPolicy.TRUNCATE
          : OverlengthPolicy.UNSPECIFIED,
    removeDuplicates: input.removeDuplicates ?? false,
  };
}

function nonNegative(v: number | null | undefined, field: string): number {
  if (v === null || v === undefined) return 0;
  if (v < 0) throw badUserInput(`must be 0 or more, got ${v}`, field);
  return v;
}

/** The template input; label words as a map keyed by label, each label once. */
function templateSettings(input: ImportDatasetInput): ImportOptions['template'] {
  const t = input.template;
  if (t === null || t === undefined) return undefined;
  const labelWords: Record<string, string> = {};
  (t.labelWords ?? []).forEach((lw, i) => {
    const field = `input.template.labelWords[${i}]`;
    if (lw.label === '') throw badUserInput('label must not be empty', `${field}.label`);
    if (lw.word === '')
      throw badUserInput(`the word for label ${JSON.stringify(lw.label)} must not be empty`, `${field}.word`);
    if (lw.label in labelWords)
      throw badUserInput(`label ${JSON.stringify(lw.label)} is listed twice`, `${field}.label`);
    labelWords[lw.label] = lw.word;
  });
  return {
    promptTemplate: t.promptTemplate ?? '',
    labelWords,
    chatTemplate: t.chatTemplate ?? '',
    defaultSystemPrompt: t.defaultSystemPrompt ?? '',
    trainOnPrompt: t.trainOnPrompt ?? false,
    ...(t.chatTemplate ? { useModelChatTemplate: false } : {}),
  };
}

export function methodSpec(method: MethodInput): DeepPartialMethod {
  const p = 'input.method';
  if (method.lora) {
    const m = method.lora;
    if (m.alpha !== null && m.alpha !== undefined && !(m.alpha > 0)) {
      throw badUserInput('alpha must be positive', `${p}.lora.alpha`);
    }
    return {
      config: {
        $case: 'lora',
        value: {
          r: nonNegativeInt(m.r, `${p}.lora.r`),
          loraAlpha: m.alpha ?? undefined,
          loraDropout: probability(m.dropout, `${p}.lora.dropout`),
          targetModules: list(m.targetModules),
          bias: m.bias ? (toProtoEnum(LoraBias, m.bias) as LoraBias) : 0,
          useRslora: m.useRslora ?? false,
          useDora: m.useDora ?? false,
          modulesToSave: list(m.modulesToSave),
          layersToTransform: [],
        },
      },
    };
  }
  if (method.full) {
    return {
      config: { $case: 'full', value: { freezeEmbeddings: method.full.freezeEmbeddings ?? false, frozenModules: [] } },
    };
  }
  if (method.bitfit) {
    return {
      config: { $case: 'bitfit', value: { targetModules: list(method.bitfit.targetModules), modulesToSave: [] } },
    };
  }
  if (method.promptTuning) {
    const m = method.promptTuning;
    return {
      config: {
        $case: 'promptTuning',
        value: {
          numVirtualTokens: nonNegativeInt(m.numVirtualTokens, `${p}.promptTuning.numVirtualTokens`),
          init: m.init
            ? (toProtoEnum(PromptTuningInit, m.init) as PromptTuningInit)
            : m.initText
              ? PromptTuningInit.TEXT
              : PromptTuningInit.RANDOM,
          initText: m.initText ?? '',
        },
      },
    };
  }
  if (method.pTuning) {
    const m = method.pTuning;
    return {
      config: {
        $case: 'pTuning',
        value: {
          numVirtualTokens: nonNegativeInt(m.numVirtualTokens, `${p}.pTuning.numVirtualTokens`),
          encoderType: m.encoderType
            ? (toProtoEnum(PromptEncoderType, m.encoderType) as PromptEncoderType)
            : PromptEncoderType.MLP,
          encoderHiddenSize: nonNegativeInt(m.encoderHiddenSize, `${p}.pTuning.encoderHiddenSize`),
          encoderNumLayers: nonNegativeInt(m.encoderNumLayers, `${p}.pTuning.encoderNumLayers`),
          encoderDropout: probability(m.encoderDropout, `${p}.pTuning.encoderDropout`),
        },
      },
    };
  }
  if (method.prefixTuning) {
    const m = method.prefixTuning;
    return {
      config: {
        $case: 'prefixTuning',
        value: {
          numVirtualTokens: nonNegativeInt(m.numVirtualTokens, `${p}.prefixTuning.numVirtualTokens`),
          prefixProjection: m.prefixProjection ?? false,
          encoderHiddenSize: nonNegativeInt(m.encoderHiddenSize, `${p}.prefixTuning.encoderHiddenSize`),
        },
      },
    };
  }
  if (method.adapter) {
    const m = method.adapter;
    return {
      config: {
        $case: 'adapter',
        value: {
          bottleneckSize: nonNegativeInt(m.bottleneckSize, `${p}.adapter.bottleneckSize`),
          nonLinearity: m.nonLinearity
            ? (toProtoEnum(AdapterNonLinearity, m.nonLinearity) as AdapterNonLinearity)
            : AdapterNonLinearity.UNSPECIFIED,
          placement: m.placement
            ? (toProtoEnum(AdapterPlacement, m.placement) as AdapterPlacement)
            : AdapterPlacement.UNSPECIFIED,
          dropout: probability(m.dropout, `${p}.adapter.dropout`),
          scaling: m.scaling ?? undefined,
        },
      },
    };
  }
  if (method.ia3) {
    const m = method.ia3;
    return {
      config: {
        $case: 'ia3',
        value: {
          targetModules: list(m.targetModules),
          feedforwardModules: list(m.feedforwardModules),
          modulesToSave: [],
        },
      },
    };
  }
  // @oneOf guarantees one key; reaching here means the schema and this function disagree.
  throw badUserInput('method needs one key', p);
}

export function hyperparameters(h: HyperparametersInput | null | undefined): Partial<Hyperparameters> {
  if (!h) return {};
  const p = 'input.hyperparameters';
  if (h.epochs != null && h.maxSteps != null) throw badUserInput('set epochs or maxSteps, not both', `${p}.maxSteps`);
  if (h.epochs != null && !(h.epochs > 0)) throw badUserInput('epochs must be positive', `${p}.epochs`);
  if (h.maxSteps != null && h.maxSteps <= 0n) throw badUserInput('maxSteps must be positive', `${p}.maxSteps`);
  if (h.learningRate != null && !(h.learningRate > 0)) {
    throw badUserInput('learningRate must be positive', `${p}.learningRate`);
  }
  if (h.seed != null && h.seed < 0) throw badUserInput('seed must be non-negative', `${p}.seed`);
  if (h.evalEverySteps != null && h.evalEverySteps <= 0n) {
    throw badUserInput('evalEverySteps must be positive', `${p}.evalEverySteps`);
  }
  return {
    duration:
      h.epochs != null
        ? { $case: 'epochs', value: h.epochs }
        : h.maxSteps != null
          ? { $case: 'maxSteps', value: h.maxSteps }
          : undefined,
    learningRate: h.learningRate ?? undefined,
    batchSize: nonNegativeInt(h.batchSize, `${p}.batchSize`),
    gradientAccumulationSteps: nonNegativeInt(h.gradientAccumulationSteps, `${p}.gradientAccumulationSteps`),
    maxSeqLength: nonNegativeInt(h.maxSeqLength, `${p}.maxSeqLength`),
    seed: h.seed ?? undefined,
    evalEverySteps: h.evalEverySteps ?? undefined,
  };
}

export function createJobRequest(input: CreateFineTuneJobInput): Partial<CreateFineTuneJobRequest> {
  return {
    idempotencyKey: input.idempotencyKey ?? '',
    baseModelId: input.baseModelId,
    datasetId: input.datasetId,
    method: methodSpec(input.method) as MethodSpec,
    hyperparameters: hyperparameters(input.hyperparameters) as Hyperparameters,
    evaluationMetrics: (input.evaluationMetrics ?? []).map(metricToProto),
    name: input.name ?? '',
    labels: {},
  };
}

/** A model reference from mutually exclusive id fields of an input. */
export function modelRef(
  input: {
    jobId?: string | null;
    baseModelId?: string | null;
    artifactId?: string | null;
    checkpointId?: string | null;
  },
  keys: readonly ('jobId' | 'baseModelId' | 'artifactId' | 'checkpointId')[],
): ModelRef {
  const key = exactlyOne(input, keys, `input.${keys.join('|')}`);
  return { target: { $case: key, value: String(input[key]) } };
}

export function splitToProto(split: string | null | undefined): DatasetSplit {
  return split ? (toProtoEnum(DatasetSplit, split) as DatasetSplit) : DatasetSplit.VALIDATION;
}

export function dtypeToProto(dtype: string | null | undefined): Dtype {
  return dtype ? (toProtoEnum(Dtype, dtype) as Dtype) : Dtype.UNSPECIFIED;
}
