// Mutation: validate what the schema cannot express, translate to the proto request, make one gRPC call.
import { createHash } from 'node:crypto';
import {
  CombinationType,
  Decoding,
  ExportFormat,
  FinishReason,
  type ImportDatasetRequest,
  type Metric,
} from '@tunemesh/proto';
import { GraphQLError } from 'graphql/index.js';
import { toGraphQLEnum, toProtoEnum } from '../enums.js';
import { badUserInput } from '../errors.js';
import type { MutationResolvers } from '../generated/resolvers-types.js';
import { call } from '../grpc-call.js';
import {
  createJobRequest,
  dtypeToProto,
  exactlyOne,
  importOptions,
  metricToProto,
  modelRef,
  splitToProto,
} from '../inputs.js';
import { isUploadedFile } from '../multipart.js';

/** Inline JSONL and uploads go to the client-streaming ImportDataset in chunks under gRPC's 4 MiB message limit. */
const CHUNK_BYTES = 1024 * 1024;
/** How long a streamed upload (transfer from the client plus the import) may take. */
const UPLOAD_DEADLINE_MS = 30 * 60 * 1000;

async function* importStream(
  header: ImportDatasetRequest,
  parts: Iterable<Uint8Array> | AsyncIterable<Uint8Array>,
): AsyncGenerator<ImportDatasetRequest> {
  yield header;
  for await (const bytes of parts) {
    for (let offset = 0; offset < bytes.length; offset += CHUNK_BYTES) {
      yield { payload: { $case: 'chunk', value: bytes.subarray(offset, offset + CHUNK_BYTES) } };
    }
  }
}

function required<T>(value: T | undefined, what: string): T {
  if (value === undefined) {
    throw new GraphQLError(`service answered without ${what}`, { extensions: { code: 'INTERNAL' } });
  }
  return value;
}

export const Mutation: MutationResolvers = {
  async importDataset(_parent, { input }, { clients }) {
    const source = exactlyOne(input, ['path', 'jsonl', 'upload'] as const, 'input');
    const options = importOptions(input);

    if (source === 'path') {
      const request = { path: String(input.path), options, validationPath: '' };
      const res = await call(clients.dataset, (o) => clients.dataset.client.importDatasetFromPath(request, o));
      return { dataset: required(res.dataset, 'a dataset'), alreadyExisted: res.alreadyExisted };
    }
    if (source === 'upload') {
      if (!isUploadedFile(input.upload)) {
        throw badUserInput('upload must be a file of a multipart request', 'input.upload');
      }
      // Streamed: each part of the file goes on to the dataset service as it arrives, so the gateway never holds
      // the upload whole. Its size and hash are unknown up front; the header's fields for them are optional (the
      // dataset service applies its own size limit while it reads).
      const upload = await input.upload.open();
      const header: ImportDatasetRequest = {
        payload: {
          $case: 'header',
          // The file name tells the dataset service the file format (.jsonl, .json, .csv, .parquet).
          value: { options, fileName: upload.filename, sha256: '', validationFileName: '' },
        },
      };
      // The call lasts as long as the client takes to send the file, so it gets the upload's own deadline.
      const deadline = new Date(Date.now() + UPLOAD_DEADLINE_MS);
      const res = await call(clients.dataset, (o) =>
        clients.dataset.client.importDataset(importStream(header, upload.stream), { ...o, deadline }),
      );
      return { dataset: required(res.dataset, 'a dataset'), alreadyExisted: res.alreadyExisted };
    }
    const bytes = new TextEncoder().encode(String(input.jsonl));
    const header: ImportDatasetRequest = {
      payload: {
        $case: 'header',
        value: {
          options,
          fileName: `${input.name}.jsonl`,
          sizeBytes: BigInt(bytes.length),
          sha256: createHash('sha256').update(bytes).digest('hex'),
          validationFileName: '',
        },
      },
    };
    const res = await call(clients.dataset, (o) =>
      clients.dataset.client.importDataset(importStream(header, [bytes]), o),
    );
    return { dataset: required(res.dataset, 'a dataset'), alreadyExisted: res.alreadyExisted };
  },

  async deleteDataset(_parent, { id }, { clients }) {
    await call(clients.dataset, (o) => clients.dataset.client.deleteDataset({ id }, o));
    return { id, deleted: true };
  },

  async registerBaseModel(_parent, { input }, { clients }) {
    const res = await call(clients.trainer, (o) =>
      clients.trainer.client.registerBaseModel({ name: input.name, path: input.path }, o),
    );
    return required(res.baseModel, 'a base model');
  },

  async createFineTuneJob(_parent, { input }, { clients }) {
    const request = createJobRequest(input);
    const res = await call(clients.trainer, (o) => clients.trainer.client.createFineTuneJob(request, o));
    return required(res.job, 'a job');
  },

  async cancelFineTuneJob(_parent, { id, reason }, { clients }) {
    const res = await call(clients.trainer, (o) =>
      clients.trainer.client.cancelFineTuneJob({ id, reason: reason ?? '' }, o),
    );
    return required(res.job, 'a job');
  },

  async evaluateAdapter(_parent, { input }, { clients }) {
    if (input.metrics.length === 0) throw badUserInput('metrics must name at least one metric', 'input.metrics');
    if (input.maxExamples != null && input.maxExamples < 0) {
      throw badUserInput('maxExamples must be non-negative', 'input.maxExamples');
    }
    const request = {
      model: modelRef(input, ['jobId', 'baseModelId', 'artifactId', 'checkpointId']),
      datasetId: input.datasetId,
      split: splitToProto(input.split),
      metrics: input.metrics.map(metricToProto) as Metric[],
      maxExamples: BigInt(input.maxExamples ?? 0),
      idempotencyKey: input.idempotencyKey ?? '',
    };
    const res = await call(clients.evaluator, (o) => clients.evaluator.client.evaluateAdapter(request, o));
    return required(res.evaluation, 'an evaluation');
  },

  async mergeAdapter(_parent, { input }, { clients }) {
    const request = {
      adapter: { target: { $case: 'jobId' as const, value: input.jobId } },
      dtype: dtypeToProto(input.dtype),
      name: input.name ?? '',
    };
    const res = await call(clients.evaluator, (o) => clients.evaluator.client.mergeAdapter(request, o));
    return required(res.artifact, 'an artifact');
  },

  async combineAdapters(_parent, { input }, { clients }) {
    if (input.adapters.length < 2) throw badUserInput('combine at least two adapters', 'input.adapters');
    const request = {
      adapters: input.adapters.map((a) => ({
        adapter: { target: { $case: 'jobId' as const, value: a.jobId } },
        weight: a.weight,
      })),
      combinationType: toProtoEnum(CombinationType, input.combinationType) as CombinationType,
      name: input.name ?? '',
    };
    const res = await call(clients.evaluator, (o) => clients.evaluator.client.combineAdapters(request, o));
    return required(res.artifact, 'an artifact');
  },

  async exportModel(_parent, { input }, { clients }) {
    const request = {
      model: modelRef(input, ['jobId', 'artifactId', 'baseModelId']),
      format: toProtoEnum(ExportFormat, input.format) as ExportFormat,
      dtype: dtypeToProto(input.dtype),
      name: input.name ?? '',
    };
    const res = await call(clients.evaluator, (o) => clients.evaluator.client.exportModel(request, o));
    return required(res.artifact, 'an artifact');
  },

  async generate(_parent, { input }, { clients }) {
    if (input.maxNewTokens != null && input.maxNewTokens < 1) {
      throw badUserInput('maxNewTokens must be positive', 'input.maxNewTokens');
    }
    if (input.topK != null && input.topK < 0) throw badUserInput('topK must be >= 0', 'input.topK');
    if (input.seed != null && input.seed < 0) throw badUserInput('seed must be >= 0', 'input.seed');
    // The evaluator checks the ranges of the rest (temperature, topP, repetitionPenalty) and names the field.
    const request = {
      model: modelRef(input, ['jobId', 'baseModelId', 'checkpointId', 'artifactId']),
      input: { $case: 'prompt' as const, value: input.prompt },
      generation: {
        decoding: input.sample ? Decoding.SAMPLE : Decoding.GREEDY,
        maxNewTokens: input.maxNewTokens ?? 0,
        topK: input.topK ?? 0,
        stop: input.stop ?? [],
        ...(input.temperature != null && { temperature: input.temperature }),
        ...(input.topP != null && { topP: input.topP }),
        ...(input.seed != null && { seed: input.seed }),
        ...(input.repetitionPenalty != null && { repetitionPenalty: input.repetitionPenalty }),
      },
    };
    const res = await call(clients.evaluator, (o) => clients.evaluator.client.generate(request, o));
    return { text: res.text, finishReason: toGraphQLEnum(FinishReason, res.finishReason, 'finish reason') };
  },

  async compareModels(_parent, { input }, { clients }) {
    if (input.models.length < 2) throw badUserInput('compare at least two models', 'input.models');
    const first = input.first ?? 10;
    if (!(Number.isInteger(first) && first >= 1 && first <= 100)) {
      throw badUserInput(`first must be a whole number from 1 to 100 (got ${first})`, 'input.first');
    }
    const offset = input.offset ?? 0;
    if (!(Number.isInteger(offset) && offset >= 0)) {
      throw badUserInput(`offset must be a whole number ≥ 0 (got ${offset})`, 'input.offset');
    }
    if (input.maxNewTokens != null && input.maxNewTokens < 1) {
      throw badUserInput('maxNewTokens must be positive', 'input.maxNewTokens');
    }
    const request = {
      models: input.models.map((m, i) => {
        const key = exactlyOne(m, ['jobId', 'baseModelId'] as const, `input.models[${i}]`);
        return { target: { $case: key, value: String(m[key]) } };
      }),
      datasetId: input.datasetId,
      split: splitToProto(input.split),
      count: first,
      offset: BigInt(offset),
      generation: { maxNewTokens: input.maxNewTokens ?? 0 },
    };
    const res = await call(clients.evaluator, (o) => clients.evaluator.client.compareAdapters(request, o));
    return { samples: res.samples };
  },
};
