// The DatasetService RPCs: proto in, domain calls, proto out. Errors are the kit's domain errors, mapped to
// gRPC status by the kit's one table.

import { InvalidArgumentError, NotFoundError, type ServiceImplementation, unimplementedService } from '@tunemesh/kit';
import {
  type DatasetServiceDefinition,
  DatasetStatus,
  DatasetServiceDefinition as Definition,
  type ImportDatasetRequest,
  type ListDatasetsRequest,
} from '@tunemesh/proto';
import type { BaseModelDir } from './base-models.js';
import { datasetToProto, formatFromProto, settingsFromProto } from './convert.js';
import { ARTEFACTS, type Importer } from './import/importer.js';
import { stageCopy, stageUpload, type UploadPart } from './import/staging.js';
import { resolveInRoots } from './paths.js';
import { previewDataset, streamBatches, streamExamples } from './read-rpcs.js';
import type { ArtefactStore } from './store/artefacts.js';
import type { DatasetRecords, DatasetState } from './store/records.js';

export const DATASET_PLANNED_IN = 'issue 6 (dataset service)';

export interface HandlerDeps {
  records: DatasetRecords;
  artefacts: ArtefactStore;
  importer: Importer;
  dataRoots: readonly string[];
  modelRoots: readonly string[];
  /** A registered base model's directory (tokenizer.base_model_id); absent: such references are refused. */
  baseModelDir?: BaseModelDir;
  maxUploadBytes: number;
}

const DEFAULT_PAGE = 50;
const MAX_PAGE = 500;

const STATUS_FROM_PROTO = new Map<number, DatasetState>([
  [DatasetStatus.VALIDATING, 'VALIDATING'],
  [DatasetStatus.READY, 'READY'],
  [DatasetStatus.FAILED, 'FAILED'],
]);

/** A page token is the offset plus a fingerprint of the filters it was issued for. */
function filterKey(req: ListDatasetsRequest): string {
  return JSON.stringify([req.statuses, req.format, req.ids]);
}

function encodeToken(offset: number, req: ListDatasetsRequest): string {
  return Buffer.from(JSON.stringify({ o: offset, f: filterKey(req) })).toString('base64url');
}

function decodeToken(token: string, req: ListDatasetsRequest): number {
  if (token === '') return 0;
  try {
    const t = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as { o?: unknown; f?: unknown };
    if (typeof t.o === 'number' && Number.isSafeInteger(t.o) && t.o >= 0 && t.f === filterKey(req)) return t.o;
  } catch {
    // fall through: a token that is not ours
  }
  throw new InvalidArgumentError('page_token is not valid for these filters', { field: 'page.page_token' });
}

async function* uploadParts(request: AsyncIterable<ImportDatasetRequest>): AsyncGenerator<UploadPart> {
  for await (const msg of request) {
    const p = msg.payload;
    if (p === undefined) continue;
    if (p.$case === 'header') {
      const h = p.value;
      yield {
        kind: 'header',
        fileName: h.fileName,
        ...(h.sizeBytes !== undefined && { sizeBytes: Number(h.sizeBytes) }),
        sha256: h.sha256,
        validationFileName: h.validationFileName,
        options: h.options,
      } as UploadPart;
    } else if (p.$case === 'chunk') yield { kind: 'chunk', bytes: p.value };
    else yield { kind: 'validationChunk', bytes: p.value };
  }
}

export function datasetHandlers(deps: HandlerDeps): ServiceImplementation<typeof DatasetServiceDefinition> {
  const { records, artefacts, importer } = deps;
  return unimplementedService(Definition, DATASET_PLANNED_IN, {
    async importDataset(request, context) {
      type Header = Extract<UploadPart, { kind: 'header' }> & { options?: import('@tunemesh/proto').ImportOptions };
      const up = await stageUpload<Header>(artefacts, uploadParts(request), deps.maxUploadBytes, context.signal);
      try {
        const settings = await settingsFromProto(up.header.options, deps.modelRoots, deps.baseModelDir);
        const name = up.header.options?.name || up.source.name;
        const out = await importer.run(
          { staging: up.staging, source: up.source, ...(up.validation !== undefined && { validation: up.validation }) },
          settings,
          name,
          context.signal,
        );
        return { dataset: datasetToProto(out.record), alreadyExisted: out.alreadyExisted };
      } catch (err) {
        await artefacts.discard(up.staging);
        throw err;
      }
    },

    async importDatasetFromPath(req) {
      const path = await resolveInRoots(req.path, deps.dataRoots, 'path');
      const validationPath =
        req.validationPath === ''
          ? undefined
          : await resolveInRoots(req.validationPath, deps.dataRoots, 'validation_path');
      const settings = await settingsFromProto(req.options, deps.modelRoots, deps.baseModelDir);
      const staging = await artefacts.stage();
      try {
        const source = await stageCopy(staging, path, ARTEFACTS.source, deps.maxUploadBytes);
        const validation =
          validationPath === undefined
            ? undefined
            : await stageCopy(staging, validationPath, ARTEFACTS.validationSource, deps.maxUploadBytes);
        const name = req.options?.name || source.name;
        const out = await importer.run(
          { staging, source, ...(validation !== undefined && { validation }) },
          settings,
          name,
        );
        return { dataset: datasetToProto(out.record), alreadyExisted: out.alreadyExisted };
      } catch (err) {
        await artefacts.discard(staging);
        throw err;
      }
    },

    async getDataset(req) {
      const r = await records.get(req.id);
      if (r === undefined) throw new NotFoundError(`dataset ${JSON.stringify(req.id)} does not exist`);
      return { dataset: datasetToProto(r) };
    },

    async listDatasets(req) {
      const size = Math.min(MAX_PAGE, req.page?.pageSize || DEFAULT_PAGE);
      const offset = decodeToken(req.page?.pageToken ?? '', req);
      const statuses = req.statuses.map((s) => {
        const st = STATUS_FROM_PROTO.get(s);
        if (st === undefined) throw new InvalidArgumentError(`unknown status ${s}`, { field: 'statuses' });
        return st;
      });
      const format = formatFromProto(req.format, 'format');
      const { records: page, total } = await records.list(
        { statuses, ...(format !== undefined && { format }), ids: req.ids },
        offset,
        size,
      );
      const next = offset + page.length < total ? encodeToken(offset + page.length, req) : '';
      return { datasets: page.map(datasetToProto), page: { nextPageToken: next, totalSize: BigInt(total) } };
    },

    previewDataset: (req) => previewDataset(deps, req),
    streamExamples: (req, context) => streamExamples(deps, req, context.signal),
    streamBatches: (req, context) => streamBatches(deps, req, context.signal),

    async deleteDataset(req) {
      const r = await records.get(req.id);
      if (r === undefined) throw new NotFoundError(`dataset ${JSON.stringify(req.id)} does not exist`);
      await records.delete(r.id);
      // Artefacts are per content hash; a crashed earlier import of the same content may share the folder.
      const freed = (await records.countByContent(r.contentSha256)) === 0 ? await artefacts.remove(r.contentSha256) : 0;
      return { freedBytes: BigInt(freed) };
    },
  });
}
