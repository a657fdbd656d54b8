// `make demo`: the fine-tuning workflow of the mission, end to end through the real mesh, as a GraphQL client
// of the gateway. Starts NATS, the dataset, trainer and evaluator services, a trainer node and the gateway on
// embedded defaults (SQLite, a local artefact folder, CPU), then: a base model → the shipped sentiment dataset
// (classification with a prompt template and label words) → validation report → 90/10 split with seed 42 → a
// LoRA job with the seed's settings, followed live through the trainingProgress subscription → automatic
// evaluation of base vs adapter → merge → export → a summary, printed and written to demo-output/summary.json.
//
// Environment: MODEL=/path/to/hf-model-dir uses that model instead of making a small one; DEMO_ROWS=N uses the
// first N reviews; DEMO_EPOCHS=E, DEMO_LR=x; DEMO_OUT=dir (default demo-output). Every run starts from an empty
// state.
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startMesh } from './mesh.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const FROM_SOURCE = process.env.TUNEMESH_FROM_SOURCE === '1';
const ENGINE = join(ROOT, FROM_SOURCE ? 'packages/engine/src/index.ts' : 'packages/engine/dist/index.js');
// graphql-ws and ws are the gateway's dependencies; the demo borrows them rather than declaring its own.
const gatewayRequire = createRequire(join(ROOT, 'services/gateway/package.json'));

const REVIEWS = join(ROOT, 'examples/sentiment/reviews.jsonl');
const PROMPT_TEMPLATE = 'Review: {text}\nSentiment:';
const LABEL_WORDS = { 0: ' negative', 1: ' positive' };
// The seed's LoRA settings; the learning rate suits a small model trained from random weights.
const LORA = { r: 8, alpha: 32, dropout: 0.05, targetModules: ['q_proj', 'v_proj'] };

const started = Date.now();
const out = resolve(ROOT, process.env.DEMO_OUT || 'demo-output');
const rowsWanted = process.env.DEMO_ROWS ? Number(process.env.DEMO_ROWS) : undefined;
// A small model made here learns from random weights and takes a high learning rate; a real pretrained model
// (MODEL=…) takes the seed's 2e-4 and one epoch.
const epochs = process.env.DEMO_EPOCHS ? Number(process.env.DEMO_EPOCHS) : process.env.MODEL ? 1 : 3;
const learningRate = process.env.DEMO_LR ? Number(process.env.DEMO_LR) : process.env.MODEL ? 2e-4 : 2e-2;
const tty = process.stdout.isTTY === true;
const say = (line = '') => process.stdout.write(`${line}\n`);
const seconds = () => ((Date.now() - started) / 1000).toFixed(1);

class DemoError extends Error {}

function check(condition, message) {
  if (!condition) throw new DemoError(message);
}

// ------------------------------------------------------------------------------------------- GraphQL client

let endpoint;
async function gql(query, variables = {}) {
  const res = await fetch(endpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query, variables }),
  });
  const body = await res.json();
  if (body.errors?.length) {
    const e = body.errors[0];
    throw new DemoError(`GraphQL ${e.extensions?.code ?? 'ERROR'}: ${e.message}`);
  }
  return body.data;
}

/** Follows one subscription until the server completes it, calling onEvent for each result. */
function follow(wsUrl, query, variables, onEvent) {
  const { createClient } = gatewayRequire('graphql-ws');
  const WebSocket = gatewayRequire('ws');
  const client = createClient({ url: wsUrl, webSocketImpl: WebSocket, retryAttempts: 3, lazy: true });
  return new Promise((done, fail) => {
    client.subscribe(
      { query, variables },
      {
        next: (r) => {
          if (r.errors?.length) fail(new DemoError(`subscription: ${r.errors[0].message}`));
          else onEvent(r.data);
        },
        error: (err) =>
          fail(new DemoError(`subscription: ${Array.isArray(err) ? err[0]?.message : (err?.message ?? err)}`)),
        complete: () => done(),
      },
    );
  }).finally(() => client.dispose());
}

async function poll(what, fn, timeoutMs = 120_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new DemoError(`${what} did not finish within ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

// --------------------------------------------------------------------------------------------- the steps

async function prepareData(dataDir) {
  await mkdir(dataDir, { recursive: true });
  const lines = (await readFile(REVIEWS, 'utf8')).split('\n').filter((l) => l.trim() !== '');
  const rows = rowsWanted === undefined ? lines : lines.slice(0, rowsWanted);
  const file = join(dataDir, 'reviews.jsonl');
  await writeFile(file, `${rows.join('\n')}\n`);
  return { file, rows: rows.map((l) => JSON.parse(l)) };
}

/**
 * The base model: MODEL when given, else a small Qwen2-architecture model made here with random weights and a
 * byte-level BPE tokenizer learned on the task's rendered text (so review words and label words are whole
 * tokens, as in any real model's vocabulary). A random base scores about chance: the baseline the adapter beats.
 */
async function baseModel(modelsDir, rows) {
  if (process.env.MODEL) {
    const dir = resolve(process.env.MODEL);
    return { dir, root: dirname(dir), made: false };
  }
  const engine = await import(ENGINE);
  const dir = join(modelsDir, 'tiny-sentiment');
  const corpus = rows.map((r) => `${PROMPT_TEMPLATE.replace('{text}', r.text)}${LABEL_WORDS[r.label]}`).join('\n');
  const info = await engine.makeTinyModel({
    arch: 'qwen2',
    out: dir,
    seed: 5,
    sizes: { hidden: 64, layers: 2, heads: 4, kvHeads: 2, intermediate: 128, vocab: 1024, maxPositions: 512 },
    tokenizerCorpus: corpus,
  });
  return { dir, root: modelsDir, made: true, parameters: info.parameters };
}

function bar(step, total, width = 30) {
  const filled = total > 0 ? Math.round((width * step) / total) : 0;
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`;
}

async function main() {
  await rm(out, { recursive: true, force: true });
  const state = join(out, 'state');
  const dataDir = join(out, 'data');
  const modelsDir = join(out, 'models');
  await mkdir(state, { recursive: true });
  const { file: dataFile, rows } = await prepareData(dataDir);
  const model = await baseModel(modelsDir, rows);
  say(
    model.made
      ? `demo: made a base model (qwen2 architecture, ${model.parameters.toLocaleString('en-US')} parameters, random weights) in ${model.dir}`
      : `demo: base model ${model.dir}`,
  );

  const trainerStore = join(state, 'trainer');
  const evaluatorStore = join(state, 'evaluator');
  const modelRoots = model.root;
  say('demo: starting NATS, the dataset, trainer and evaluator services, a trainer node and the gateway ...');
  const mesh = await startMesh({
    logLevel: 'warn',
    log: (line) => say(`demo: ${line}`),
    nodes: 1,
    ownNats: true,
    env: {
      DATASET_STORE_DIR: join(state, 'dataset'),
      DATASET_DATA_ROOTS: dataDir,
      DATASET_MODEL_ROOTS: modelRoots,
      TRAINER_STORE_DIR: trainerStore,
      TRAINER_MODEL_ROOTS: modelRoots,
      EVALUATOR_STORE_DIR: evaluatorStore,
      EVALUATOR_MODEL_ROOTS: modelRoots,
      EVALUATOR_ADAPTER_ROOT: join(trainerStore, 'artefacts'),
    },
  });
  endpoint = mesh.gatewayUrl;
  try {
    return await workflow(mesh, model, dataFile, rows.length, { trainerStore, evaluatorStore });
  } finally {
    await mesh.stop();
  }
}

async function workflow(mesh, model, dataFile, rowCount, stores) {
  say(`demo: mesh up (${seconds()} s); GraphQL at ${mesh.gatewayUrl}\n`);

  // 1. Register the base model with the trainer service.
  const { registerBaseModel: base } = await gql(
    `mutation($input: RegisterBaseModelInput!) {
      registerBaseModel(input: $input) { id name architecture parameterCount defaultTargetModules } }`,
    { input: { name: basename(model.dir), path: model.dir } },
  );
  say(
    `1. base model   ${base.id}  ${base.architecture}, ${Number(base.parameterCount).toLocaleString('en-US')} parameters`,
  );

  // 2. Import and validate the dataset: classification rows through a prompt template and label words, split
  //    90/10 with seed 42, token statistics from the base model's tokenizer.
  const { importDataset } = await gql(
    `mutation($input: ImportDatasetInput!) {
      importDataset(input: $input) {
        dataset { id status format
          rows { total kept train validation duplicates truncated dropped }
          report { errorCount warningCount findings { severity kind line field message } findingsTruncated }
          error { code message } } } }`,
    {
      input: {
        name: 'sentiment',
        path: dataFile,
        format: 'CLASSIFICATION',
        validationSplit: 0.1,
        seed: 42,
        tokenizerBaseModelId: base.id,
        template: {
          promptTemplate: PROMPT_TEMPLATE,
          labelWords: Object.entries(LABEL_WORDS).map(([label, word]) => ({ label, word })),
        },
      },
    },
  );
  const ds = importDataset.dataset;
  const r = ds.rows;
  say(
    `2. dataset      ${ds.id}  ${ds.status}, ${rowCount} reviews → ${r.train} train / ${r.validation} validation (seed 42)`,
  );
  say(
    `   validation   ${ds.report.errorCount} errors, ${ds.report.warningCount} warnings (${r.duplicates} duplicates kept, ${r.truncated} truncated, ${r.dropped} dropped)`,
  );
  for (const f of ds.report.findings.slice(0, 3)) {
    say(`                ${f.severity.toLowerCase()} ${f.kind}${f.line ? ` line ${f.line}` : ''}: ${f.message}`);
  }
  check(ds.status === 'READY', `the dataset is ${ds.status}: ${ds.error?.message ?? 'see its report'}`);

  // 3. The LoRA job, with automatic evaluation of accuracy when it completes.
  const { createFineTuneJob: job } = await gql(
    `mutation($input: CreateFineTuneJobInput!) { createFineTuneJob(input: $input) { id status trainableParams totalParams } }`,
    {
      input: {
        name: 'sentiment-lora',
        baseModelId: base.id,
        datasetId: ds.id,
        method: { lora: LORA },
        hyperparameters: { epochs, learningRate, batchSize: 16, maxSeqLength: 128, seed: 42 },
        evaluationMetrics: ['ACCURACY', 'F1', 'LOSS'],
        idempotencyKey: `demo-${ds.id}-${base.id}`,
      },
    },
  );
  const pct = (100 * Number(job.trainableParams)) / Number(job.totalParams);
  say(
    `3. LoRA job     ${job.id}  r ${LORA.r}, alpha ${LORA.alpha}, dropout ${LORA.dropout}, ${LORA.targetModules.join(' + ')}; ` +
      `${Number(job.trainableParams).toLocaleString('en-US')} of ${Number(job.totalParams).toLocaleString('en-US')} parameters train (${pct.toFixed(2)}%)`,
  );

  // 4. Follow training live: history replayed, then live events until the job ends.
  let last;
  let printedAt = -1;
  let terminal;
  const firstLoss = { value: undefined };
  await follow(
    mesh.wsUrl,
    `subscription($id: ID!) { trainingProgress(jobId: $id) {
      sequence kind step totalSteps loss tokensPerSecond remainingSeconds validationLoss status error { code message } } }`,
    { id: job.id },
    ({ trainingProgress: e }) => {
      if (e.kind === 'PROGRESS' && e.step != null) {
        last = e;
        firstLoss.value ??= e.loss;
        const total = Number(e.totalSteps);
        const step = Number(e.step);
        const line = `   ${bar(step, total)} step ${step}/${total}  loss ${e.loss.toFixed(4)}  ${Math.round(e.tokensPerSecond ?? 0)} tokens/s${e.remainingSeconds != null ? `  ${Math.ceil(e.remainingSeconds)} s left` : ''}`;
        if (tty) process.stdout.write(`\r${line}`);
        else if (Math.floor((10 * step) / total) > printedAt) {
          printedAt = Math.floor((10 * step) / total);
          say(line);
        }
      }
      if (e.status) terminal = e;
    },
  );
  if (tty) say();
  check(
    terminal?.status === 'SUCCEEDED',
    `the job ended ${terminal?.status ?? 'without a final event'}: ${terminal?.error?.message ?? ''}`,
  );
  say(
    `4. trained      loss ${firstLoss.value?.toFixed(4)} → ${last?.loss?.toFixed(4)} in ${last?.step} steps (${seconds()} s so far)`,
  );

  const { fineTuneJob: done } = await gql(
    'query($id: ID!) { fineTuneJob(id: $id) { status adapter { path sizeBytes } lossCurve { path } } }',
    { id: job.id },
  );
  const artefacts = join(stores.trainerStore, 'artefacts');
  const abs = (p) => (isAbsolute(p) ? p : join(artefacts, p));
  const adapterPath = abs(done.adapter.path);
  const lossChartPath = done.lossCurve ? abs(done.lossCurve.path) : null;

  // 5. Automatic evaluation: the evaluator evaluates the adapter and the base model (baseline) on their own.
  const leaderboard = await poll('automatic evaluation', async () => {
    const d = await gql(
      `query($job: ID!, $data: ID!) {
        evaluations(jobId: $job) { edges { node { id status metrics { name value } error { message } } } }
        leaderboard(datasetId: $data, metric: ACCURACY) { entries { rank jobId baseModelId isBaseline value name } } }`,
      { job: job.id, data: ds.id },
    );
    const failed = d.evaluations.edges.find((e) => e.node.status === 'FAILED');
    if (failed) throw new DemoError(`automatic evaluation failed: ${failed.node.error?.message}`);
    const entries = d.leaderboard.entries;
    const adapter = entries.find((e) => e.jobId === job.id);
    const baseline = entries.find((e) => e.isBaseline);
    return adapter && baseline ? { adapter, baseline } : undefined;
  });
  // One identity for a base model across the mesh: the evaluator reports the trainer's id.
  check(
    leaderboard.baseline.baseModelId === base.id,
    `the leaderboard names the base model ${leaderboard.baseline.baseModelId}, the trainer ${base.id}`,
  );
  const baseAccuracy = leaderboard.baseline.value;
  const adapterAccuracy = leaderboard.adapter.value;
  say(
    `5. evaluated    accuracy on the validation split: base ${pctOf(baseAccuracy)} → adapter ${pctOf(adapterAccuracy)}`,
  );

  // 6. Merge the adapter into the base (no extra cost at inference), then export the merged model.
  const { mergeAdapter: merged } = await gql(
    'mutation($id: ID!) { mergeAdapter(input: {jobId: $id, dtype: F32, name: "sentiment-merged"}) { id kind location { path sizeBytes } } }',
    { id: job.id },
  );
  const mergedModelPath = await artifactDir(stores.evaluatorStore, merged.location.path);
  const { exportModel: exported } = await gql(
    'mutation($id: ID!) { exportModel(input: {artifactId: $id, format: SAFETENSORS, dtype: F16, name: "sentiment-f16"}) { id kind location { path sizeBytes } } }',
    { id: merged.id },
  );
  const exportPath = await artifactDir(stores.evaluatorStore, exported.location.path);

  // 7. The merged model scores what the adapter scores (same validation split, same metric).
  const { evaluateAdapter: mergedEval } = await gql(
    `mutation($input: EvaluateAdapterInput!) { evaluateAdapter(input: $input) { id } }`,
    { input: { artifactId: merged.id, datasetId: ds.id, split: 'VALIDATION', metrics: ['ACCURACY'] } },
  );
  const mergedAccuracy = await poll('the merged model evaluation', async () => {
    const { evaluation: e } = await gql(
      'query($id: ID!) { evaluation(id: $id) { status metrics { name value } error { message } } }',
      {
        id: mergedEval.id,
      },
    );
    if (e.status === 'FAILED') throw new DemoError(`merged model evaluation failed: ${e.error?.message}`);
    return e.status === 'SUCCEEDED' ? e.metrics.find((m) => m.name === 'ACCURACY')?.value : undefined;
  });
  say(`6. merged       ${mergedModelPath} (accuracy ${pctOf(mergedAccuracy)}); exported float16 to ${exportPath}`);

  const summary = {
    baseAccuracy,
    adapterAccuracy,
    mergedAccuracy,
    adapterPath,
    mergedModelPath,
    exportedModelPath: exportPath,
    lossChartPath,
    jobId: job.id,
    datasetId: ds.id,
    baseModelId: base.id,
    graphqlEndpoint: mesh.gatewayUrl,
    firstLoss: firstLoss.value ?? null,
    finalLoss: last?.loss ?? null,
    steps: last ? Number(last.step) : 0,
    seconds: Number(seconds()),
  };
  await writeFile(join(out, 'summary.json'), `${JSON.stringify(summary, null, 2)}\n`);
  say(`
summary (${join(out, 'summary.json')})
  accuracy        base ${pctOf(baseAccuracy)}   adapter ${pctOf(adapterAccuracy)}   merged ${pctOf(mergedAccuracy)}
  adapter         ${adapterPath}
  merged model    ${mergedModelPath}
  loss chart      ${lossChartPath ?? '(none)'}
  GraphQL         ${mesh.gatewayUrl} (\`make up\` keeps the mesh running, the dashboard at /)
  time            ${summary.seconds} s`);
  check(adapterAccuracy > baseAccuracy, 'the adapter did not beat the base model');
  check(Math.abs(mergedAccuracy - adapterAccuracy) < 1e-9, 'the merged model does not score what the adapter scores');
  return summary;
}

function pctOf(v) {
  return `${(100 * v).toFixed(1)}%`;
}

/** An artefact's folder: the evaluator reports paths relative to its artefact store. */
async function artifactDir(evaluatorStore, path) {
  if (isAbsolute(path)) return path;
  for (const candidate of [join(evaluatorStore, 'artifacts', path), join(evaluatorStore, path)]) {
    try {
      await readFile(join(candidate, 'config.json'));
      return candidate;
    } catch {}
  }
  throw new DemoError(`cannot find the artefact ${path} under ${evaluatorStore}`);
}

try {
  await main();
  process.exit(0);
} catch (err) {
  if (tty) say();
  console.error(`demo: ${err instanceof DemoError ? err.message : (err?.stack ?? err)}`);
  process.exit(1);
}
