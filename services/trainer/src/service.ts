// The trainer service: owns fine-tuning jobs, base models, the training work queue and trainer nodes. Nothing is
// built yet, so every RPC answers UNIMPLEMENTED naming issue 7; the process is real: it serves health, connects
// to NATS and declares the job event stream, the training work queue (with the trainer nodes' durable consumer)
// and the trainer control stream.
import {
  declareStreams,
  declareWorkQueueConsumer,
  type Logger,
  type MeshServiceHandle,
  startMeshService,
  unimplementedService,
} from '@tunemesh/kit';
import { STREAMS, TrainerServiceDefinition } from '@tunemesh/proto';
import type { TrainerConfig } from './config.js';

export const TRAINER_PLANNED_IN = 'issue 7 (trainer service)';

/** The durable pull consumer every trainer node shares on the training work queue. */
export const TRAINER_NODES_CONSUMER = 'trainer-nodes';

export function start(config: TrainerConfig, options: { logger?: Logger } = {}): Promise<MeshServiceHandle> {
  return startMeshService({
    name: 'trainer',
    config,
    ...options,
    serviceNames: [TrainerServiceDefinition.fullName],
    declareStreams: async (jsm) => {
      await declareStreams(jsm, [STREAMS.jobEvents, STREAMS.trainWork, STREAMS.trainerControl]);
      await declareWorkQueueConsumer(jsm, STREAMS.trainWork.name, TRAINER_NODES_CONSUMER);
    },
    register: (server) =>
      server.add(TrainerServiceDefinition, unimplementedService(TrainerServiceDefinition, TRAINER_PLANNED_IN)),
  });
}
