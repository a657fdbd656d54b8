// What every optimiser offers the loop: an in-place update of float32 parameters from their gradients at a
// given learning rate, and its state as named float32 tensors plus a step count, so a checkpoint can hold it
// and a resumed run continues bit for bit.

export interface Optimizer {
  readonly name: 'adamw' | 'sgd';
  /** Optimiser steps taken so far (PyTorch's per-parameter `step`; the same for every parameter here). */
  readonly stepCount: number;
  /**
   * Updates every parameter in `params` in place from `grads` (same names, same lengths) with learning rate `lr`.
   * `gradFactor` (default 1) scales each gradient element as it is read, rounded to float32 as an in-place
   * scaling would store it (clipping folded into the update: one pass over the gradients fewer).
   */
  step(
    params: ReadonlyMap<string, Float32Array>,
    grads: ReadonlyMap<string, Float32Array>,
    lr: number,
    gradFactor?: number,
  ): void;
  /** State tensors by name ('exp_avg.<param>', 'exp_avg_sq.<param>', 'momentum_buffer.<param>'); live views. */
  state(): Map<string, Float32Array>;
  /** Restores state written by state(); names and lengths must match the parameters. */
  load(stepCount: number, tensors: ReadonlyMap<string, Float32Array>): void;
}
