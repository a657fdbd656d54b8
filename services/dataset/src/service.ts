// The dataset service: owns datasets (import, validation, split, templating, tokenisation, streaming to
// trainers). Nothing is built yet, so every RPC answers UNIMPLEMENTED naming issue 6; the process is real: it
// serves health, connects to NATS and declares the stream its events go to.
import {
  declareStreams,
  type Logger,
  type MeshServiceHandle,
  startMeshService,
  unimplementedService,
} from '@tunemesh/kit';
import { DatasetServiceDefinition, STREAMS } from '@tunemesh/proto';
import type { DatasetConfig } from './config.js';

export const DATASET_PLANNED_IN = 'issue 6 (dataset service)';

export function start(config: DatasetConfig, options: { logger?: Logger } = {}): Promise<MeshServiceHandle> {
  return startMeshService({
    name: 'dataset',
    config,
    ...options,
    serviceNames: [DatasetServiceDefinition.fullName],
    declareStreams: (jsm) => declareStreams(jsm, [STREAMS.datasetEvents]),
    register: (server) =>
      server.add(DatasetServiceDefinition, unimplementedService(DatasetServiceDefinition, DATASET_PLANNED_IN)),
  });
}
