// The gateway's gRPC clients: one channel per service, clients with deadlines, retries for idempotent calls
// and trace propagation (from @tunemesh/kit).
import { createServiceClient, type GrpcChannel, openChannel, type ServiceClient } from '@tunemesh/kit';
import { DatasetServiceDefinition, EvaluatorServiceDefinition, TrainerServiceDefinition } from '@tunemesh/proto';

export interface ServiceTarget<D> {
  name: 'dataset' | 'trainer' | 'evaluator';
  address: string;
  channel: GrpcChannel;
  client: D;
}

export interface MeshClients {
  dataset: ServiceTarget<ServiceClient<typeof DatasetServiceDefinition>>;
  trainer: ServiceTarget<ServiceClient<typeof TrainerServiceDefinition>>;
  evaluator: ServiceTarget<ServiceClient<typeof EvaluatorServiceDefinition>>;
  close(): void;
}

export interface MeshAddresses {
  datasetAddress: string;
  trainerAddress: string;
  evaluatorAddress: string;
  grpcDeadlineMs: number;
}

export function createMeshClients(config: MeshAddresses): MeshClients {
  const options = { component: 'gateway', defaultDeadlineMs: config.grpcDeadlineMs };
  const target = <
    D extends typeof DatasetServiceDefinition | typeof TrainerServiceDefinition | typeof EvaluatorServiceDefinition,
  >(
    name: 'dataset' | 'trainer' | 'evaluator',
    address: string,
    definition: D,
  ): ServiceTarget<ServiceClient<D>> => {
    const channel = openChannel(address);
    return { name, address, channel, client: createServiceClient(definition, channel.channel, options) };
  };
  const dataset = target('dataset', config.datasetAddress, DatasetServiceDefinition);
  const trainer = target('trainer', config.trainerAddress, TrainerServiceDefinition);
  const evaluator = target('evaluator', config.evaluatorAddress, EvaluatorServiceDefinition);
  return {
    dataset,
    trainer,
    evaluator,
    close() {
      for (const t of [dataset, trainer, evaluator]) t.channel.close();
    },
  };
}
