// `make demo` headless at a smaller size: the same script, from the sources, on free ports and its own
// nats-server — base model, dataset import with validation, LoRA job followed over the subscription, automatic
// evaluation, merge, export — and the adapter must beat the base model while the merged model scores the same.

import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort, spawnSource } from '../packages/kit/src/testing/index.js';

const root = resolve(fileURLToPath(new URL('..', import.meta.url)));
const out = await mkdtemp(join(tmpdir(), 'tm-demo-'));
afterAll(() => rm(out, { recursive: true, force: true }));

interface Summary {
  baseAccuracy: number;
  adapterAccuracy: number;
  mergedAccuracy: number;
  adapterPath: string;
  mergedModelPath: string;
  exportedModelPath: string;
  lossChartPath: string;
  jobId: string;
  graphqlEndpoint: string;
  firstLoss: number;
  finalLoss: number;
  steps: number;
  seconds: number;
}

const isFile = (p: string) =>
  stat(p).then(
    (s) => s.isFile(),
    () => false,
  );

describe('make demo, headless and smaller', () => {
  it('fine-tunes through the mesh and the adapter beats the base model', async () => {
    const [gateway, dataset, trainer, evaluator] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
    const demo = spawnSource(join(root, 'scripts/demo.mjs'), {
      cwd: root,
      env: {
        TUNEMESH_FROM_SOURCE: '1',
        DEMO_OUT: out,
        DEMO_ROWS: '1200',
        GATEWAY_PORT: String(gateway),
        DATASET_PORT: String(dataset),
        TRAINER_PORT: String(trainer),
        EVALUATOR_PORT: String(evaluator),
        MODEL: '',
      },
    });
    const result = await demo.exited;
    expect(result.code, `${result.stdout.slice(-3000)}\n${result.stderr.slice(-3000)}`).toBe(0);

    const summary = JSON.parse(await readFile(join(out, 'summary.json'), 'utf8')) as Summary;
    // A random base model scores about chance on two balanced labels; the adapter learns the task.
    expect(summary.baseAccuracy).toBeLessThan(0.7);
    expect(summary.adapterAccuracy).toBeGreaterThan(summary.baseAccuracy + 0.2);
    expect(summary.mergedAccuracy).toBe(summary.adapterAccuracy);
    expect(summary.finalLoss).toBeLessThan(summary.firstLoss);
    expect(summary.steps).toBeGreaterThan(0);
    expect(summary.graphqlEndpoint).toBe(`http://127.0.0.1:${gateway}/graphql`);
    expect(summary.jobId).toMatch(/^job-/);
    expect(await isFile(join(summary.adapterPath, 'adapter_config.json'))).toBe(true);
    const adapterConfig = JSON.parse(await readFile(join(summary.adapterPath, 'adapter_config.json'), 'utf8'));
    // The seed's settings reach the saved PEFT config.
    expect(adapterConfig).toMatchObject({ peft_type: 'LORA', r: 8, lora_alpha: 32, lora_dropout: 0.05 });
    expect([...adapterConfig.target_modules].sort()).toEqual(['q_proj', 'v_proj']);
    expect(await isFile(join(summary.mergedModelPath, 'config.json'))).toBe(true);
    expect(await isFile(join(summary.exportedModelPath, 'config.json'))).toBe(true);
    expect(await readFile(summary.lossChartPath, 'utf8')).toMatch(/^<svg|<\?xml/);
    // What people read: the progress bar with the live loss, and the summary.
    expect(result.stdout).toMatch(/\[#+\.*\] step \d+\/\d+ {2}loss \d/);
    expect(result.stdout).toMatch(/accuracy {8}base [\d.]+% {3}adapter [\d.]+% {3}merged [\d.]+%/);
  }, 240_000);
});
