import { EngineError } from '../errors.js';

/**
 * A training run that cannot start or cannot go on: a bad hyperparameter (named, with the value given), an
 * empty dataset, too many non-finite steps in a row, a checkpoint that cannot be written or does not belong to
 * this run, a cancelled run, base weights an earlier run released (releaseFrozenWeights). `code` is one of
 * TrainErrorCode so the trainer service can map it to a status.
 */
export type TrainErrorCode =
  | 'bad_hyperparameter'
  | 'empty_dataset'
  | 'non_finite'
  | 'checkpoint_write'
  | 'bad_checkpoint'
  | 'checkpoint_mismatch'
  | 'aborted'
  | 'weights_released';

export class TrainError extends EngineError {
  override readonly name: string = 'TrainError';
  declare readonly code: TrainErrorCode;

  constructor(code: TrainErrorCode, message: string, opts?: { cause?: unknown }) {
    super(code, message, opts);
  }
}

/** A resume refused because the checkpoint belongs to another model, method or dataset; `field` names which. */
export class CheckpointMismatchError extends TrainError {
  override readonly name: string = 'CheckpointMismatchError';
  constructor(
    readonly field: 'model' | 'method' | 'method_config' | 'data' | 'params' | 'data_order',
    message: string,
  ) {
    super('checkpoint_mismatch', message);
  }
}
