// One configuration of the memory benchmark (bench/memory.ts), in a process of its own so that its peak RSS is
// its own: load the model, optionally quantize the base, apply LoRA, train a few steps on fixed random tokens,
// print one JSON line. Run with --expose-gc so the float weights a quantized run dropped are really gone.

import { parseArgs } from 'node:util';
import {
  dequantizedWeights,
  getMethod,
  loadModelDir,
  makeLoraConfig,
  quantizeModel,
  releaseAllSessions,
  seededRandom,
  type TrainModel,
  type TrainRow,
  train,
} from '../packages/engine/src/index.js';

const { values: a } = parseArgs({
  options: {
    model: { type: 'string' },
    quantize: { type: 'string', default: 'none' },
    block: { type: 'string', default: '64' },
    ckpt: { type: 'boolean', default: false },
    steps: { type: 'string', default: '4' },
    batch: { type: 'string', default: '4' },
    seq: { type: 'string', default: '256' },
  },
});

const gc = (globalThis as { gc?: () => void }).gc ?? (() => undefined);
const rssMb = () => process.memoryUsage().rss / 2 ** 20;

async function main(): Promise<void> {
  const base = await loadModelDir(a.model as string, { dtype: 'float32' });
  let model: TrainModel = { config: base.config, weights: base.weights };
  let bytes = { float: 0, quant: 0 };
  let applyWeights = base.weights;
  if (a.quantize !== 'none') {
    const mode = a.quantize as 'int8' | 'int4';
    const q = quantizeModel(base.config, base.weights, {
      mode,
      ...(mode === 'int4' ? { blockSize: Number(a.block) } : {}),
    });
    model = { config: base.config, weights: q.weights, quantized: q.quantized };
    bytes = { float: q.floatBytes, quant: q.quantBytes };
    applyWeights = dequantizedWeights(q); // what the quantized model computes with; dropped once graphs are built
    base.weights.clear(); // the loaded float copies of the quantized tensors: nothing else holds them
  }
  const applied = getMethod('lora').apply(
    { config: base.config, weights: applyWeights, dir: a.model as string },
    makeLoraConfig({ r: 8, loraAlpha: 16, targetModules: ['q_proj', 'v_proj'] }),
    { seed: 0 },
  );
  // The dequantized copies were only for apply(): drop them (training reads the quantized weights).
  for (const n of model.quantized?.keys() ?? []) if (applyWeights !== base.weights) applyWeights.delete(n);
  gc();
  const rssBefore = rssMb();
  const r = seededRandom(7);
  const seq = Number(a.seq);
  // One fixed batch, seen at every step: the loss then falls (memorisation), so the runs' losses can be compared.
  const batch: TrainRow[] = Array.from({ length: Number(a.batch) }, () => ({
    input_ids: Array.from({ length: seq }, () => Math.floor(r() * base.config.vocabSize)),
  }));
  const rows = Array.from({ length: Number(a.steps) }, () => batch).flat();
  let rssTrain = 0;
  const result = await train({
    model,
    method: applied,
    train: rows,
    hyperparameters: {
      maxSteps: Number(a.steps),
      lr: 1e-3,
      batchSize: Number(a.batch),
      shuffle: false,
      scheduler: 'constant',
    },
    gradientCheckpointing: a.ckpt === true,
    callbacks: {
      onLog() {
        rssTrain = Math.max(rssTrain, rssMb());
      },
    },
  });
  await releaseAllSessions();
  process.stdout.write(
    `${JSON.stringify({
      losses: result.losses.map((l) => l.loss),
      step_s: result.stepSeconds,
      rss_before_train_mb: rssBefore,
      rss_train_max_mb: rssTrain,
      peak_rss_mb: result.peakRssMb,
      float_bytes: bytes.float,
      quant_bytes: bytes.quant,
    })}\n`,
  );
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
