// The evaluator service: owns evaluations, merges, combinations and exports of adapters. Nothing is built yet,
// so every RPC answers UNIMPLEMENTED naming issue 8; the process is real: it serves health, connects to NATS and
// declares the evaluation event stream and the evaluation work queue with its workers' durable consumer.
import {
  declareStreams,
  declareWorkQueueConsumer,
  type Logger,
  type MeshServiceHandle,
  startMeshService,
  unimplementedService,
} from '@tunemesh/kit';
import { EvaluatorServiceDefinition, STREAMS } from '@tunemesh/proto';
import type { EvaluatorConfig } from './config.js';

export const EVALUATOR_PLANNED_IN = 'issue 8 (evaluator service)';

/** The durable pull consumer the evaluator's workers share on the evaluation work queue. */
export const EVALUATOR_WORKERS_CONSUMER = 'evaluator-workers';

export function start(config: EvaluatorConfig, options: { logger?: Logger } = {}): Promise<MeshServiceHandle> {
  return startMeshService({
    name: 'evaluator',
    config,
    ...options,
    serviceNames: [EvaluatorServiceDefinition.fullName],
    declareStreams: async (jsm) => {
      await declareStreams(jsm, [STREAMS.evaluationEvents, STREAMS.evalWork]);
      await declareWorkQueueConsumer(jsm, STREAMS.evalWork.name, EVALUATOR_WORKERS_CONSUMER);
    },
    register: (server) =>
      server.add(EvaluatorServiceDefinition, unimplementedService(EvaluatorServiceDefinition, EVALUATOR_PLANNED_IN)),
  });
}
