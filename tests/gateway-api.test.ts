// The gateway's GraphQL API over real HTTP against real gRPC servers (programmed per test) and a real
// nats-server: the schema's contract names, resolvers translating proto, batching of cross-service links,
// input validation with field paths, and the gRPC → GraphQL error table.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { InvalidArgumentError, ServerError, Status } from '../packages/kit/src/index.js';
import {
  AdapterNonLinearity,
  AdapterPlacement,
  BaseModel,
  Checkpoint,
  type CreateFineTuneJobRequest,
  Dataset,
  DatasetStatus,
  Decoding,
  Evaluation,
  EvaluationStatus,
  FineTuneJob,
  FinishReason,
  JobStatus,
  MethodKind,
  Metric,
  PromptEncoderType,
  PromptTuningInit,
} from '../proto/src/index.js';
import { type GatewayHarness, startGatewayHarness } from './gateway/harness.js';

let h: GatewayHarness;

beforeAll(async () => {
  h = await startGatewayHarness();
});
afterAll(async () => {
  await h?.stop();
});
beforeEach(() => {
  h.calls.length = 0;
  for (const s of ['dataset', 'trainer', 'evaluator'] as const) h.program(s, {});
});

const job = (id: string, datasetId: string, baseModelId: string) =>
  FineTuneJob.fromPartial({ id, name: `job ${id}`, status: JobStatus.RUNNING, datasetId, baseModelId });

describe('queries', () => {
  it('resolves the links of a page of jobs with one batched call per service', async () => {
    h.program('trainer', {
      listFineTuneJobs: (req: { ids: string[] }) => {
        if (req.ids.length > 0) throw new Error('not expected');
        return {
          jobs: [job('j1', 'd1', 'm1'), job('j2', 'd2', 'm1'), job('j3', 'd1', 'm2')],
          page: { nextPageToken: 'tok2' },
        };
      },
      listBaseModels: (req: { ids: string[] }) => ({
        baseModels: req.ids.map((id) => BaseModel.fromPartial({ id, name: `model ${id}`, path: `/m/${id}` })),
      }),
      listCheckpoints: (req: { jobId: string; jobIds: string[] }) => {
        if (req.jobId !== '') throw new Error('expected one batched call with job_ids');
        return {
          checkpoints: req.jobIds.flatMap((id) =>
            id === 'j2'
              ? []
              : [4, 2].map((step) =>
                  Checkpoint.fromPartial({ id: `${id}-ckpt-${step}`, jobId: id, step: BigInt(step) }),
                ),
          ),
        };
      },
    });
    h.program('dataset', {
      listDatasets: (req: { ids: string[] }) => ({
        datasets: req.ids
          .filter((id) => id !== 'd2') // d2 was deleted: its link is null, not an error
          .map((id) => Dataset.fromPartial({ id, name: `data ${id}`, status: DatasetStatus.READY })),
      }),
    });
    h.program('evaluator', {
      listEvaluations: (req: { jobIds: string[] }) => ({
        evaluations: [
          Evaluation.fromPartial({
            id: 'e1',
            jobId: 'j1',
            datasetId: 'd1',
            status: EvaluationStatus.SUCCEEDED,
            results: [{ metric: Metric.MACRO_F1, value: 0.75 }],
          }),
        ].filter((e) => req.jobIds.includes(e.jobId)),
      }),
    });
    const result = await h.graphql(`{
      fineTuneJobs(first: 3) {
        edges { cursor node { id status dataset { id name } baseModel { id } evaluations { id metrics { name value } } checkpoints { id step } } }
        pageInfo { hasNextPage endCursor }
      }
    }`);
    expect(result.errors).toBeUndefined();
    expect(result.data?.fineTuneJobs).toEqual({
      edges: [
        {
          cursor: 'j1',
          node: {
            id: 'j1',
            status: 'RUNNING',
            dataset: { id: 'd1', name: 'data d1' },
            baseModel: { id: 'm1' },
            evaluations: [{ id: 'e1', metrics: [{ name: 'F1', value: 0.75 }] }],
            checkpoints: [
              { id: 'j1-ckpt-4', step: 4 },
              { id: 'j1-ckpt-2', step: 2 },
            ],
          },
        },
        {
          cursor: 'j2',
          node: {
            id: 'j2',
            status: 'RUNNING',
            dataset: null,
            baseModel: { id: 'm1' },
            evaluations: [],
            checkpoints: [],
          },
        },
        {
          cursor: 'j3',
          node: {
            id: 'j3',
            status: 'RUNNING',
            dataset: { id: 'd1', name: 'data d1' },
            baseModel: { id: 'm2' },
            evaluations: [],
            checkpoints: [
              { id: 'j3-ckpt-4', step: 4 },
              { id: 'j3-ckpt-2', step: 2 },
            ],
          },
        },
      ],
      pageInfo: { hasNextPage: true, endCursor: 'tok2' },
    });
    const count = (method: string) => h.calls.filter((c) => c.method === method).length;
    expect(count('listFineTuneJobs')).toBe(1);
    expect(count('listDatasets')).toBe(1);
    expect(count('listBaseModels')).toBe(1);
    expect(count('listEvaluations')).toBe(1);
    expect(count('listCheckpoints')).toBe(1);
    const checkpointCall = h.calls.find((c) => c.method === 'listCheckpoints')?.request as { jobIds: string[] };
    expect([...checkpointCall.jobIds].sort()).toEqual(['j1', 'j2', 'j3']);
    const datasetCall = h.calls.find((c) => c.method === 'listDatasets')?.request as { ids: string[] };
    expect([...datasetCall.ids].sort()).toEqual(['d1', 'd2']);
  });

  it("shows the leaderboard with each entry's method and delta against the baseline", async () => {
    h.program('evaluator', {
      getLeaderboard: () => ({
        higherIsBetter: false,
        entries: [
          {
            rank: 1,
            evaluationId: 'e-a',
            baseModelId: 'm1',
            jobId: 'j1',
            method: MethodKind.LORA,
            name: 'j1',
            isBaseline: false,
            value: 1.5,
            deltaVsBaseline: -0.5,
            evaluatedAt: new Date('2026-11-28T12:00:00Z'),
          },
          {
            rank: 2,
            evaluationId: 'e-b',
            baseModelId: 'm1',
            jobId: '',
            method: MethodKind.UNSPECIFIED,
            name: 'm1',
            isBaseline: true,
            value: 2,
            deltaVsBaseline: 0,
          },
        ],
        page: { nextPageToken: '' },
      }),
    });
    const r = await h.graphql(
      '{ leaderboard(datasetId: "d1", metric: LOSS) { higherIsBetter entries { rank jobId method isBaseline value deltaVsBaseline evaluatedAt } } }',
    );
    expect(r.errors).toBeUndefined();
    expect(r.data?.leaderboard).toEqual({
      higherIsBetter: false,
      entries: [
        {
          rank: 1,
          jobId: 'j1',
          method: 'LORA',
          isBaseline: false,
          value: 1.5,
          deltaVsBaseline: -0.5,
          evaluatedAt: '2026-11-28T12:00:00.000Z',
        },
        { rank: 2, jobId: null, method: null, isBaseline: true, value: 2, deltaVsBaseline: 0, evaluatedAt: null },
      ],
    });
  });

  it('passes generation settings and checkpoint/artefact targets through to the evaluator', async () => {
    h.program('evaluator', {
      generate: () => ({ text: 'hi', finishReason: FinishReason.STOP_SEQUENCE }),
      evaluateAdapter: () => ({
        evaluation: Evaluation.fromPartial({ id: 'e1', status: EvaluationStatus.QUEUED, datasetId: 'd1' }),
      }),
    });
    const g = await h.graphql(
      `mutation { generate(input: {checkpointId: "j1-ckpt-4", prompt: "Hello", maxNewTokens: 5, sample: true,
        temperature: 0.7, topK: 20, topP: 0.9, seed: 3, repetitionPenalty: 1.2, stop: ["\\n"]}) { text finishReason } }`,
    );
    expect(g.errors).toBeUndefined();
    expect(g.data?.generate).toEqual({ text: 'hi', finishReason: 'STOP_SEQUENCE' });
    expect(h.calls.find((c) => c.method === 'generate')?.request).toEqual({
      model: { target: { $case: 'checkpointId', value: 'j1-ckpt-4' } },
      input: { $case: 'prompt', value: 'Hello' },
      generation: {
        decoding: Decoding.SAMPLE,
        maxNewTokens: 5,
        topK: 20,
        stop: ['\n'],
        temperature: 0.7,
        topP: 0.9,
        seed: 3,
        repetitionPenalty: 1.2,
      },
    });
    const greedy = await h.graphql('mutation { generate(input: {artifactId: "a1", prompt: "x"}) { text } }');
    expect(greedy.errors).toBeUndefined();
    const second = h.calls.filter((c) => c.method === 'generate')[1]?.request as {
      model: unknown;
      generation: { decoding: Decoding };
    };
    expect(second.model).toEqual({ target: { $case: 'artifactId', value: 'a1' } });
    expect(second.generation.decoding).toBe(Decoding.GREEDY);
    const two = await h.graphql('mutation { generate(input: {jobId: "j1", checkpointId: "c", prompt: "x"}) { text } }');
    expect(two.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');

    const e = await h.graphql(
      'mutation { evaluateAdapter(input: {checkpointId: "j1-ckpt-4", datasetId: "d1", metrics: [LOSS]}) { id } }',
    );
    expect(e.errors).toBeUndefined();
    expect(h.calls.find((c) => c.method === 'evaluateAdapter')?.request).toMatchObject({
      model: { target: { $case: 'checkpointId', value: 'j1-ckpt-4' } },
    });
  });

  it('passes the page size and cursor to the service and refuses pages over the maximum', async () => {
    h.program('dataset', { listDatasets: () => ({ datasets: [], page: { nextPageToken: '' } }) });
    const ok = await h.graphql(
      '{ datasets(first: 5, after: "abc") { edges { cursor } pageInfo { hasNextPage endCursor } } }',
    );
    expect(ok.data?.datasets).toEqual({ edges: [], pageInfo: { hasNextPage: false, endCursor: null } });
    expect(h.calls[0]?.request).toMatchObject({ page: { pageSize: 5, pageToken: 'abc' } });
    const tooBig = await h.graphql('{ datasets(first: 101) { edges { cursor } } }');
    expect(tooBig.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'first' });
  });

  it('describes every method with a JSON schema and defaults', async () => {
    const result = await h.graphql('{ methods { key kind settingsSchema defaults } }');
    const methods = result.data?.methods as {
      key: string;
      kind: string;
      settingsSchema: { properties: Record<string, Record<string, unknown>> };
      defaults: unknown;
    }[];
    expect(methods.map((m) => m.key).sort()).toEqual(
      ['adapter', 'bitfit', 'full', 'ia3', 'lora', 'pTuning', 'prefixTuning', 'promptTuning'].sort(),
    );
    const lora = methods.find((m) => m.key === 'lora');
    expect(lora?.kind).toBe('LORA');
    expect(lora?.defaults).toEqual({ r: 8, alpha: 8, dropout: 0, bias: 'NONE', useRslora: false, useDora: false });
    expect(lora?.settingsSchema.properties.r).toMatchObject({ type: 'integer', default: 8, 'x-peft-field': 'r' });
    expect(lora?.settingsSchema.properties.alpha?.['x-peft-field']).toBe('lora_alpha');
  });
});

describe('mutations', () => {
  const CREATE = `mutation($input: CreateFineTuneJobInput!) { createFineTuneJob(input: $input) { id status } }`;
  const input = {
    baseModelId: 'm1',
    datasetId: 'd1',
    method: { lora: { r: 16, alpha: 32, dropout: 0.05, targetModules: ['q_proj', 'v_proj'] } },
    hyperparameters: {
      maxSteps: 200,
      learningRate: 0.0002,
      batchSize: 4,
      gradientAccumulationSteps: 2,
      maxSeqLength: 256,
      seed: 7,
    },
    idempotencyKey: 'k-1',
  };

  it('creates a LoRA job with hyperparameters and idempotency key', async () => {
    h.program('trainer', {
      createFineTuneJob: (req: CreateFineTuneJobRequest) => ({
        job: FineTuneJob.fromPartial({
          id: 'j9',
          status: JobStatus.QUEUED,
          datasetId: req.datasetId,
          baseModelId: req.baseModelId,
        }),
      }),
    });
    const result = await h.graphql(CREATE, { input });
    expect(result).toEqual({ data: { createFineTuneJob: { id: 'j9', status: 'QUEUED' } } });
    const req = h.calls[0]?.request as CreateFineTuneJobRequest;
    expect(req.idempotencyKey).toBe('k-1');
    expect(req.method?.config).toEqual({
      $case: 'lora',
      value: expect.objectContaining({ r: 16, loraAlpha: 32, loraDropout: 0.05, targetModules: ['q_proj', 'v_proj'] }),
    });
    expect(req.hyperparameters).toMatchObject({
      duration: { $case: 'maxSteps', value: 200n },
      learningRate: 0.0002,
      batchSize: 4,
      gradientAccumulationSteps: 2,
      maxSeqLength: 256,
      seed: 7,
    });
  });

  it('passes the enum settings of prompt tuning, P-tuning and adapters through to the trainer', async () => {
    h.program('trainer', {
      createFineTuneJob: () => ({ job: FineTuneJob.fromPartial({ id: 'j10', status: JobStatus.QUEUED }) }),
    });
    const cases: [Record<string, unknown>, unknown][] = [
      [
        { promptTuning: { numVirtualTokens: 8, init: 'SAMPLE_VOCAB' } },
        {
          $case: 'promptTuning',
          value: expect.objectContaining({ numVirtualTokens: 8, init: PromptTuningInit.SAMPLE_VOCAB }),
        },
      ],
      [
        { promptTuning: { initText: 'Classify the review' } },
        {
          $case: 'promptTuning',
          value: expect.objectContaining({ init: PromptTuningInit.TEXT, initText: 'Classify the review' }),
        },
      ],
      [
        { pTuning: { encoderType: 'LSTM' } },
        { $case: 'pTuning', value: expect.objectContaining({ encoderType: PromptEncoderType.LSTM }) },
      ],
      [
        { adapter: { nonLinearity: 'SILU', placement: 'SEQUENTIAL_BOTH' } },
        {
          $case: 'adapter',
          value: expect.objectContaining({
            nonLinearity: AdapterNonLinearity.SILU,
            placement: AdapterPlacement.SEQUENTIAL_BOTH,
          }),
        },
      ],
    ];
    for (const [method, config] of cases) {
      h.calls.length = 0;
      const result = await h.graphql(CREATE, { input: { ...input, idempotencyKey: null, method } });
      expect(result.errors, JSON.stringify(result.errors)).toBeUndefined();
      expect((h.calls[0]?.request as CreateFineTuneJobRequest | undefined)?.method?.config).toEqual(config);
    }
  });

  it('refuses bad input before any gRPC call, naming the field', async () => {
    const twoMethods = await h.graphql(CREATE, { input: { ...input, method: { lora: {}, full: {} } } });
    expect(twoMethods.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    const both = await h.graphql(CREATE, { input: { ...input, hyperparameters: { epochs: 1, maxSteps: 5 } } });
    expect(both.errors?.[0]?.extensions).toMatchObject({
      code: 'BAD_USER_INPUT',
      field: 'input.hyperparameters.maxSteps',
    });
    const dropout = await h.graphql(CREATE, { input: { ...input, method: { lora: { dropout: 1.5 } } } });
    expect(dropout.errors?.[0]?.extensions).toMatchObject({
      code: 'BAD_USER_INPUT',
      field: 'input.method.lora.dropout',
    });
    const source = await h.graphql(
      'mutation { importDataset(input: {name: "x", path: "/a", jsonl: "{}"}) { dataset { id } } }',
    );
    expect(source.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'input' });
    expect(h.calls).toEqual([]);
  });

  it('streams inline JSONL to ImportDataset (header, then chunks)', async () => {
    h.program('dataset', {
      importDataset: () => ({
        dataset: Dataset.fromPartial({ id: 'd7', name: 'tiny', status: DatasetStatus.READY }),
        alreadyExisted: false,
      }),
    });
    const jsonl = '{"text":"a"}\n{"text":"b"}\n';
    const result = await h.graphql(
      'mutation($j: String!) { importDataset(input: {name: "tiny", jsonl: $j, format: TEXT, validationSplit: 0.5, seed: 3}) { dataset { id status } alreadyExisted } }',
      { j: jsonl },
    );
    expect(result).toEqual({
      data: { importDataset: { dataset: { id: 'd7', status: 'READY' }, alreadyExisted: false } },
    });
    const messages = h.calls[0]?.request as { payload: { $case: string; value: { options?: unknown } | Uint8Array } }[];
    expect(messages[0]?.payload.$case).toBe('header');
    const headerValue = messages[0]?.payload.value as { options?: unknown } | undefined;
    expect(headerValue?.options).toMatchObject({
      name: 'tiny',
      format: 3,
      split: { holdout: { $case: 'validationFraction', value: 0.5 }, seed: 3 },
    });
    const body = Buffer.concat(messages.slice(1).map((m) => Buffer.from(m.payload.value as Uint8Array))).toString();
    expect(body).toBe(jsonl);
  });
});

describe('errors', () => {
  const failWith = (err: Error) =>
    h.program('trainer', {
      getFineTuneJob: () => {
        throw err;
      },
    });
  const query = '{ fineTuneJob(id: "j1") { id } }';

  it.each([
    [Status.NOT_FOUND, 'NOT_FOUND'],
    [Status.ALREADY_EXISTS, 'CONFLICT'],
    [Status.FAILED_PRECONDITION, 'CONFLICT'],
    [Status.PERMISSION_DENIED, 'FORBIDDEN'],
    [Status.UNAUTHENTICATED, 'UNAUTHENTICATED'],
    [Status.UNIMPLEMENTED, 'NOT_IMPLEMENTED'],
  ] as const)('maps gRPC status %s to %s with the service message', async (status, code) => {
    failWith(new ServerError(status, `job j1: reason ${code}`));
    const result = await h.graphql(query);
    expect(result.errors?.[0]).toMatchObject({ message: `job j1: reason ${code}`, extensions: { code } });
  });

  it('keeps the offending field of an INVALID_ARGUMENT', async () => {
    failWith(new InvalidArgumentError('learning rate too high', { field: 'hyperparameters.learning_rate' }));
    const result = await h.graphql(query);
    expect(result.errors?.[0]?.extensions).toMatchObject({
      code: 'BAD_USER_INPUT',
      field: 'hyperparameters.learning_rate',
    });
  });

  it('hides internal details: no stack, no address, no internal message', async () => {
    failWith(new ServerError(Status.INTERNAL, 'disk /var/lib/tunemesh/x failed at 10.0.0.7:50052'));
    const internal = await h.graphql(query);
    expect(internal.errors?.[0]).toMatchObject({ message: 'internal error', extensions: { code: 'INTERNAL' } });
    // On a mutation: the kit's client retries idempotent reads on UNAVAILABLE, which would only slow the test.
    h.program('trainer', {
      cancelFineTuneJob: () => {
        throw new ServerError(Status.UNAVAILABLE, 'connect ECONNREFUSED 10.0.0.7:50052');
      },
    });
    const unavailable = await h.graphql('mutation { cancelFineTuneJob(id: "j1") { id } }');
    expect(unavailable.errors?.[0]?.extensions?.code).toBe('UNAVAILABLE');
    failWith(new Error('a bug at /srv/app.js:12'));
    const bug = await h.graphql(query);
    for (const r of [internal, unavailable, bug]) {
      const text = JSON.stringify(r);
      expect(text).not.toMatch(/10\.0\.0\.7|\/var\/lib|\/srv|stacktrace|at .*\.js/);
    }
  });
});
