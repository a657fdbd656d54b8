// `tunemesh train`, `merge` and `bench` end to end, as a user runs them: child processes from source on a
// make-tiny-model model (Qwen2-style, hidden 64, 2 layers) and the small datasets shipped in engine/data/testdata.

import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeTinyModel, releaseAllSessions } from '@tunemesh/engine';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CliResult as Result, repoRoot, runTunemesh, runTunemeshInProcess } from './testing.js';

const repo = repoRoot;
const tunemesh = (...args: string[]) => runTunemesh(args);
const inProcess = (...args: string[]) => runTunemeshInProcess(args);
const testdata = join(repo, 'packages/engine/src/data/testdata');
const sentiment = join(testdata, 'sentiment.jsonl');
const chat = join(testdata, 'chat.jsonl');
const tmp = await mkdtemp(join(tmpdir(), 'tunemesh-train-cli-'));
const model = join(tmp, 'tiny');
const otherModel = join(tmp, 'tiny-other');
const IMDB = ['--prompt-template', 'Review: {text}\\nSentiment:', '--label-words', '{"0":" negative","1":" positive"}'];

beforeAll(async () => {
  await makeTinyModel({ arch: 'qwen2', out: model, sizes: { hidden: 64, layers: 2 }, seed: 3 });
  await makeTinyModel({ arch: 'qwen2', out: otherModel, sizes: { hidden: 64, layers: 2 }, seed: 4 });
});
afterAll(async () => {
  await releaseAllSessions();
  await rm(tmp, { recursive: true, force: true });
});

function expectOneLineError(r: Result, code: number, pattern: RegExp): void {
  expect(r.code, r.stderr).toBe(code);
  const lines = r.stderr.split('\n').filter((l) => l.length > 0);
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^tunemesh: /);
  expect(lines[0]).toMatch(pattern);
  expect(r.stderr).not.toMatch(/\n\s+at /);
}

const jsonLines = (s: string) =>
  s
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => JSON.parse(l) as Record<string, unknown>);

const evalLoss = async (...args: string[]): Promise<number> => {
  const r = await tunemesh('eval', '--data', chat, '--json', ...args);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout).loss as number;
};

describe('tunemesh train / merge', () => {
  it('trains LoRA on classification rows: --json lines, falling loss, adapter and loss.svg', async () => {
    const out = join(tmp, 'sentiment-lora');
    const r = await tunemesh(
      'train',
      '--model',
      model,
      '--data',
      sentiment,
      ...IMDB,
      '--val-split',
      '0.2',
      '--method',
      'lora',
      '--r',
      '8',
      '--alpha',
      '16',
      '--target-modules',
      'q_proj,v_proj,o_proj',
      '--max-steps',
      '12',
      '--lr',
      '1e-2',
      '--batch-size',
      '8',
      '--scheduler',
      'constant',
      '--eval-every',
      '6',
      '--out',
      out,
      '--json',
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/trainable params: [\d,]+ \|\| all params: [\d,]+ \|\| trainable%: \d+\.\d{4}/);
    const lines = jsonLines(r.stdout);
    const steps = lines.filter((l) => l.done === undefined);
    expect(steps).toHaveLength(12);
    steps.forEach((l, i) => {
      expect(l.step).toBe(i + 1);
      for (const k of ['epoch', 'loss', 'lr', 'grad_norm', 'tokens_per_s']) expect(typeof l[k], k).toBe('number');
      expect(l.lr).toBe(1e-2);
    });
    const first = steps[0]?.loss as number;
    const last = (steps.slice(-3).reduce((a, l) => a + (l.loss as number), 0) / 3) as number;
    // A LoRA on q/v/o of a random 64-wide model learns slowly (full fine-tuning falls to ≈ 1.3 in as many
    // steps): from ≈ 5.84 to ≈ 5.3 here, deterministic for this seed.
    expect(last).toBeLessThan(first - 0.3);
    const done = lines.at(-1) as Record<string, unknown>;
    expect(done).toMatchObject({ done: true, adapter: out, method: 'lora', steps: 12 });
    expect(done.val_loss as number).toBeLessThan(first);
    const files = await readdir(out);
    expect(files).toEqual(expect.arrayContaining(['adapter_config.json', 'adapter_model.safetensors', 'loss.svg']));
    const cfg = JSON.parse(await readFile(join(out, 'adapter_config.json'), 'utf8'));
    expect(cfg).toMatchObject({ peft_type: 'LORA', r: 8, lora_alpha: 16 });
    expect([...cfg.target_modules].sort()).toEqual(['o_proj', 'q_proj', 'v_proj']);
    const svg = await readFile(join(out, 'loss.svg'), 'utf8');
    const polylines = new Map(
      [...svg.matchAll(/<polyline class="(\w+)"[^>]*points="([^"]*)"/g)].map((m) => [
        m[1],
        (m[2] as string).split(' '),
      ]),
    );
    expect(polylines.get('train')).toHaveLength(12);
    expect(polylines.get('val')?.length).toBeGreaterThanOrEqual(2);
  });

  it('trains on chat rows: adapter beats the base, merged equals adapter, --init-adapter and --resume continue exactly', async () => {
    const out = join(tmp, 'chat-lora');
    const r = await tunemesh(
      'train',
      '--model',
      model,
      '--data',
      chat,
      '--method',
      'lora',
      '--max-steps',
      '8',
      '--lr',
      '5e-3',
      '--batch-size',
      '5',
      '--save-every',
      '4',
      '--out',
      out,
      '--json',
    );
    expect(r.code, r.stderr).toBe(0);
    const losses = jsonLines(r.stdout)
      .filter((l) => l.done === undefined)
      .map((l) => l.loss as number);
    expect(losses).toHaveLength(8);
    const merged = join(tmp, 'chat-merged');
    const m = await tunemesh('merge', '--model', model, '--adapter', out, '--out', merged, '--json');
    expect(m.code, m.stderr).toBe(0);
    expect(JSON.parse(m.stdout)).toMatchObject({ method: 'lora' });
    const [base, adapted, mergedLoss] = await Promise.all([
      evalLoss('--model', model),
      evalLoss('--model', model, '--adapter', out),
      evalLoss('--model', merged),
    ]);
    expect(adapted).toBeLessThan(base - 0.1);
    expect(Math.abs(mergedLoss - adapted) / adapted).toBeLessThan(1e-5);

    // Continuing from the adapter: the method comes from adapter_config.json; contradicting flags are refused.
    const resume = [
      'train',
      '--data',
      chat,
      '--max-steps',
      '8',
      '--lr',
      '5e-3',
      '--batch-size',
      '5',
      '--resume',
      '--out',
      out,
    ];
    const cont = await tunemesh(
      'train',
      '--model',
      model,
      '--data',
      chat,
      '--init-adapter',
      out,
      '--max-steps',
      '1',
      '--lr',
      '1e-9',
      '--batch-size',
      '20',
      '--no-shuffle',
      '--out',
      join(tmp, 'cont'),
      '--json',
    );
    // Refusals before any training step run in-process.
    const clash = await inProcess(
      'train',
      '--model',
      model,
      '--data',
      chat,
      '--init-adapter',
      out,
      '--method',
      'bitfit',
      '--out',
      join(tmp, 'x'),
    );
    const otherSettings = await inProcess(...resume, '--model', model, '--r', '4');
    const otherBase = await inProcess(...resume, '--model', otherModel);
    expect(cont.code, cont.stderr).toBe(0);
    // One step over all 20 rows with lr ≈ 0: the loss reported is the adapter's loss on the data.
    expect(Math.abs((jsonLines(cont.stdout)[0]?.loss as number) - adapted) / adapted).toBeLessThan(1e-4);
    expectOneLineError(clash, 2, /--method bitfit contradicts --init-adapter .* lora adapter/);
    expectOneLineError(otherSettings, 1, /checkpoint-8: the lora settings differ/);
    expectOneLineError(otherBase, 1, /checkpoint-8: the checkpoint was trained on another model/);

    // Stopped after step 4 (its checkpoint is the newest): --resume gives steps 5–8 exactly as the run that
    // went on, and the chart still starts at step 1.
    await rm(join(out, 'checkpoint-8'), { recursive: true });
    const resumed = await tunemesh(...resume, '--model', model, '--json');
    expect(resumed.code, resumed.stderr).toBe(0);
    const after = jsonLines(resumed.stdout).filter((l) => l.done === undefined);
    expect(after.map((l) => l.step)).toEqual([5, 6, 7, 8]);
    after.forEach((l, i) => {
      expect(Math.abs((l.loss as number) - (losses[4 + i] as number))).toBeLessThan(1e-6);
    });
    const svg = await readFile(join(out, 'loss.svg'), 'utf8');
    expect(/<polyline class="train"[^>]*points="([^"]*)"/.exec(svg)?.[1]?.split(' ')).toHaveLength(8);
  });
});

describe('tunemesh train: full fine-tuning and BitFit', () => {
  it('write a model directory that evaluates lower than the base, and a BitFit directory', async () => {
    const [fullOut, bitfitOut] = [join(tmp, 'full'), join(tmp, 'bitfit')];
    const common = ['--model', model, '--data', chat, '--max-steps', '6', '--batch-size', '10'];
    const [full, bitfit] = await Promise.all([
      tunemesh('train', ...common, '--method', 'full', '--lr', '1e-3', '--out', fullOut, '--json'),
      tunemesh('train', ...common, '--method', 'bitfit', '--lr', '1e-2', '--out', bitfitOut),
    ]);
    expect(full.code, full.stderr).toBe(0);
    expect(bitfit.code, bitfit.stderr).toBe(0);
    expect(jsonLines(full.stdout).at(-1)).toMatchObject({ done: true, method: 'full', steps: 6 });
    // Without --json and without a terminal: the parameter line, one text line per step, a summary; stderr empty.
    expect(bitfit.stdout).toMatch(/^trainable params: /m);
    const bitfitSteps = [...bitfit.stdout.matchAll(/^step (\d)\/6 .* loss (\d+\.\d+) /gm)].map((m) => Number(m[2]));
    expect(bitfitSteps).toHaveLength(6);
    expect(bitfitSteps.at(-1) as number).toBeLessThan(bitfitSteps[0] as number);
    expect(bitfit.stdout).toMatch(/^done: 6 steps/m);
    expect(bitfit.stderr).toBe('');
    expect(await readdir(fullOut)).toEqual(
      expect.arrayContaining(['config.json', 'model.safetensors', 'tokenizer.json']),
    );
    expect(await readdir(bitfitOut)).toEqual(expect.arrayContaining(['tunemesh_config.json', 'loss.svg']));
    const [base, fullLoss] = await Promise.all([evalLoss('--model', model), evalLoss('--model', fullOut)]);
    expect(fullLoss).toBeLessThan(base - 0.1);
  });
});

describe('tunemesh train: IA3, bottleneck adapters and DoRA', () => {
  it('train, evaluate lower than the base, and merge where the method merges (merged = adapter)', async () => {
    const common = ['--model', model, '--data', chat, '--max-steps', '6', '--batch-size', '10', '--json'];
    const outs = { ia3: join(tmp, 'ia3'), adapter: join(tmp, 'adapter'), dora: join(tmp, 'dora') };
    const runs = await Promise.all([
      tunemesh('train', ...common, '--method', 'ia3', '--lr', '5e-2', '--out', outs.ia3),
      tunemesh(
        'train',
        ...common,
        '--method',
        'adapter',
        '--adapter-placement',
        'houlsby',
        '--lr',
        '1e-2',
        '--out',
        outs.adapter,
      ),
      tunemesh('train', ...common, '--use-dora', '--r', '4', '--lr', '1e-2', '--out', outs.dora),
    ]);
    for (const [r, method] of [
      [runs[0], 'ia3'],
      [runs[1], 'adapter'],
      [runs[2], 'lora'],
    ] as const) {
      expect(r.code, r.stderr).toBe(0);
      expect(jsonLines(r.stdout).at(-1)).toMatchObject({ done: true, method, steps: 6 });
    }
    const base = await evalLoss('--model', model);
    const [ia3, adapter, dora] = await Promise.all([
      evalLoss('--model', model, '--adapter', outs.ia3),
      evalLoss('--model', model, '--adapter', outs.adapter),
      evalLoss('--model', model, '--adapter', outs.dora),
    ]);
    for (const loss of [ia3, adapter, dora]) expect(loss).toBeLessThan(base - 0.01);
    for (const [name, loss] of [
      ['ia3', ia3],
      ['dora', dora],
    ] as const) {
      const merged = join(tmp, `${name}-merged`);
      const m = await tunemesh('merge', '--model', model, '--adapter', outs[name], '--out', merged);
      expect(m.code, m.stderr).toBe(0);
      expect(m.stdout).toMatch(new RegExp(`^merged ${name} adapter`));
      expect(Math.abs((await evalLoss('--model', merged)) - loss)).toBeLessThan(1e-4);
    }
    expectOneLineError(
      await inProcess('merge', '--model', model, '--adapter', outs.adapter, '--out', join(tmp, 'adapter-merged')),
      1,
      /cannot merge a bottleneck adapter/,
    );
  });
});

describe.concurrent('tunemesh train: bad input is one line and a non-zero exit', () => {
  const train = ['train', '--model', model, '--data', chat, '--max-steps', '1'];
  it('a target module the model lacks lists its linear modules', async () => {
    expectOneLineError(
      await tunemesh(...train, '--target-modules', 'qkv_proj', '--out', join(tmp, 'bad-target')),
      1,
      /qkv_proj.*q_proj.*v_proj.*down_proj/,
    );
  });
  it('a malformed data line names file and line', async () => {
    const data = join(tmp, 'bad.jsonl');
    await writeFile(data, '{"text": "a", "label": 1}\n{"text": "b", "label": 0\n');
    expectOneLineError(
      await tunemesh('train', '--model', model, '--data', data, '--out', join(tmp, 'bad-data')),
      1,
      /bad\.jsonl:2/,
    );
  });
  it('an empty dataset after truncation', async () => {
    expectOneLineError(
      await inProcess(...train, '--max-seq-len', '3', '--out', join(tmp, 'bad-trunc')),
      1,
      /chat\.jsonl: after truncation to 3 tokens no row .*raise --max-seq-len/,
    );
  });
  it('flags out of range or in conflict are usage errors', async () => {
    const o = ['--out', join(tmp, 'usage')];
    expectOneLineError(await inProcess(...train, '--r', '0', ...o), 2, /--r <r>.*positive integer/);
    expectOneLineError(await inProcess(...train, '--lr', '0', ...o), 2, /--lr <lr>.*> 0/);
    expectOneLineError(await inProcess(...train, '--lr', '-1e-3', ...o), 2, /--lr/);
    expectOneLineError(await inProcess(...train, '--method', 'ia4', ...o), 2, /lora, full, bitfit, ia3, adapter/);
    expectOneLineError(
      await inProcess(...train, '--val-split', '0.1', '--val-data', chat, ...o),
      2,
      /--val-data or --val-split/,
    );
    expectOneLineError(await inProcess(...train, '--epochs', '1', ...o), 2, /--epochs or --max-steps/);
    expectOneLineError(
      await inProcess(...train, '--method', 'full', '--r', '4', ...o),
      2,
      /--r applies to --method lora/,
    );
    expectOneLineError(
      await inProcess(...train, '--method', 'ia3', '--use-dora', ...o),
      2,
      /--use-dora applies to --method lora, not ia3/,
    );
    expectOneLineError(
      await inProcess(...train, '--method', 'adapter', '--reduction-factor', '128', ...o),
      1,
      /reduction_factor 128 leaves no bottleneck for hidden size 64/,
    );
    expectOneLineError(await inProcess(...train, '--resume', ...o), 2, /no checkpoint-<step> directory/);
  });
});

describe('tunemesh bench', () => {
  it('times LoRA steps and reports the documented fields', async () => {
    const r = await tunemesh(
      'bench',
      '--model',
      model,
      '--method',
      'lora',
      '--batch-size',
      '2',
      '--seq-len',
      '32',
      '--steps',
      '2',
      '--warmup',
      '1',
      '--json',
    );
    expect(r.code, r.stderr).toBe(0);
    const b = JSON.parse(r.stdout);
    for (const k of ['tokens_per_s', 'step_s', 'peak_rss_mb', 'mfu']) expect(b[k], k).toBeGreaterThan(0);
    expect(b.tokens_per_s).toBeCloseTo(64 / b.step_s, 6);
    expect(b.steps_s).toHaveLength(2);
    expect(b.mfu).toBeLessThan(1);
  });
});
