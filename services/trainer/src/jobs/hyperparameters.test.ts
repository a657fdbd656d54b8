// The memory and precision fields of a job: quantization with its int4 block size and gradient checkpointing are
// accepted and passed on; settings the engine cannot run fail at create time naming the field.

import { InvalidArgumentError } from '@tunemesh/kit';
import { type Hyperparameters, MethodKind, Precision, Quantization } from '@tunemesh/proto';
import { describe, expect, it } from 'vitest';
import { resolveJobHyperparameters } from './hyperparameters.js';

const base: Hyperparameters = {
  batchSize: 0,
  gradientAccumulationSteps: 0,
  lrScheduler: 0,
  weightDecay: 0,
  maxSeqLength: 0,
  evalEverySteps: 0n,
  evalEveryEpoch: false,
  saveEverySteps: 0n,
  saveTotalLimit: 0,
  earlyStoppingPatience: 0,
  earlyStoppingThreshold: 0,
  precision: 0,
  quantization: 0,
  gradientCheckpointing: false,
  device: 0,
  loggingSteps: 0,
};

const resolve = (h: Partial<Hyperparameters>) =>
  resolveJobHyperparameters({ ...base, ...h }, MethodKind.LORA, { hasValidation: false });

function fieldOf(h: Partial<Hyperparameters>): string | undefined {
  try {
    resolve(h);
  } catch (e) {
    expect(e).toBeInstanceOf(InvalidArgumentError);
    return (e as Error).message;
  }
  return undefined;
}

describe('quantization, gradient checkpointing, precision', () => {
  it('accepts a QLoRA job with checkpointing and keeps the settings', () => {
    const r = resolve({ quantization: Quantization.INT4, quantBlockSize: 32, gradientCheckpointing: true });
    expect(r.quantization).toBe(Quantization.INT4);
    expect(r.quantBlockSize).toBe(32);
    expect(r.gradientCheckpointing).toBe(true);
    expect(resolve({ quantization: Quantization.INT8 }).quantization).toBe(Quantization.INT8);
    expect(resolve({}).precision).toBe(Precision.FP32);
  });
  it('refuses what does not fit, naming the field', () => {
    expect(fieldOf({ quantization: Quantization.INT8, quantBlockSize: 64 })).toMatch(
      /^hyperparameters\.quant_block_size: applies to QUANTIZATION_INT4 only/,
    );
    expect(fieldOf({ quantization: Quantization.INT4, quantBlockSize: 48 })).toMatch(
      /^hyperparameters\.quant_block_size: must be one of 32, 64, 128, got 48/,
    );
    expect(fieldOf({ precision: Precision.FP16 })).toMatch(/^hyperparameters\.precision: .*FP32/);
  });
});
