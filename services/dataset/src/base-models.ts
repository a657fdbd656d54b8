// tokenizer.base_model_id: the trainer service owns base model registration, so the dataset service asks it
// for the model's directory and then reads the tokenizer there only if that directory is inside its own model
// roots (the same confinement as tokenizer.model_path).
import {
  ClientError,
  createServiceClient,
  InvalidArgumentError,
  NotFoundError,
  openChannel,
  Status,
  UnavailableError,
} from '@tunemesh/kit';
import { TrainerServiceDefinition } from '@tunemesh/proto';
import { resolveInRoots } from './paths.js';

/** The directory of a registered base model, inside the model roots; errors name `field`. */
export type BaseModelDir = (id: string, field: string) => Promise<string>;

export interface TrainerBaseModels {
  readonly dir: BaseModelDir;
  close(): void;
}

export function trainerBaseModels(trainerAddress: string, modelRoots: readonly string[]): TrainerBaseModels {
  const channel = openChannel(trainerAddress);
  const client = createServiceClient(TrainerServiceDefinition, channel.channel, {
    component: 'dataset',
    defaultDeadlineMs: 10_000,
  });
  return {
    async dir(id, field) {
      if (id.trim() === '') throw new InvalidArgumentError(`${field} is empty`, { field });
      let path: string;
      try {
        const res = await client.getBaseModel({ id });
        path = res.baseModel?.path ?? '';
      } catch (err) {
        if (err instanceof ClientError && err.code === Status.NOT_FOUND)
          throw new NotFoundError(
            `${field}: no base model ${JSON.stringify(id)} is registered with the trainer service`,
          );
        if (err instanceof ClientError && err.code === Status.INVALID_ARGUMENT)
          throw new InvalidArgumentError(`${field}: ${err.details}`, { field });
        throw new UnavailableError(
          `${field}: the trainer service at ${trainerAddress} could not be asked for base model ${JSON.stringify(id)} (${err instanceof ClientError ? err.details : String(err)})`,
        );
      }
      if (path === '') throw new NotFoundError(`${field}: base model ${JSON.stringify(id)} has no path`);
      return resolveInRoots(path, modelRoots, field, 'dir');
    },
    close: () => channel.close(),
  };
}
