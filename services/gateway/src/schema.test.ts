// The SDL's contract names (issue 9), the generated resolver types being current, and the methods catalogue
// matching the method inputs, checked against the schema file itself.
import { readFileSync } from 'node:fs';
import { buildSchema, type GraphQLInputObjectType, type GraphQLObjectType } from 'graphql/index.js';
import { describe, expect, it } from 'vitest';
import { GENERATED_TYPES_PATH, generateResolverTypes } from './codegen.js';
import { METHOD_DESCRIPTIONS } from './methods.js';
import { loadTypeDefs } from './schema.js';

describe('schema', () => {
  const schema = buildSchema(loadTypeDefs());
  const fields = (type: string) => Object.keys((schema.getType(type) as GraphQLObjectType).getFields());
  const inputFields = (type: string) => Object.keys((schema.getType(type) as GraphQLInputObjectType).getFields());

  it('has every operation issue 9 names', () => {
    expect(fields('Query')).toEqual(
      expect.arrayContaining([
        'datasets',
        'dataset',
        'baseModels',
        'baseModel',
        'fineTuneJobs',
        'fineTuneJob',
        'evaluations',
        'evaluation',
        'leaderboard',
        'trainerNodes',
        'methods',
      ]),
    );
    expect(fields('Mutation')).toEqual(
      expect.arrayContaining([
        'importDataset',
        'deleteDataset',
        'registerBaseModel',
        'createFineTuneJob',
        'cancelFineTuneJob',
        'evaluateAdapter',
        'mergeAdapter',
        'combineAdapters',
        'exportModel',
        'generate',
      ]),
    );
    expect(fields('Subscription')).toEqual(['trainingProgress', 'jobStatusChanged', 'evaluationProgress']);
  });

  it('keeps the core input and output names', () => {
    const method = schema.getType('MethodInput') as GraphQLInputObjectType;
    expect(method.isOneOf).toBe(true);
    expect(inputFields('MethodInput').sort()).toEqual(
      ['adapter', 'bitfit', 'full', 'ia3', 'lora', 'pTuning', 'prefixTuning', 'promptTuning'].sort(),
    );
    expect(inputFields('ImportDatasetInput')).toEqual(
      expect.arrayContaining(['name', 'path', 'jsonl', 'upload', 'format', 'validationSplit', 'seed']),
    );
    expect(inputFields('LoraInput')).toEqual(expect.arrayContaining(['r', 'alpha', 'dropout', 'targetModules']));
    expect(inputFields('HyperparametersInput')).toEqual(
      expect.arrayContaining([
        'epochs',
        'maxSteps',
        'learningRate',
        'batchSize',
        'gradientAccumulationSteps',
        'maxSeqLength',
        'seed',
      ]),
    );
    expect(inputFields('CreateFineTuneJobInput')).toEqual(
      expect.arrayContaining(['baseModelId', 'datasetId', 'method', 'hyperparameters', 'idempotencyKey']),
    );
    expect(inputFields('EvaluateAdapterInput')).toEqual(
      expect.arrayContaining(['jobId', 'baseModelId', 'datasetId', 'split', 'metrics']),
    );
    expect(fields('FineTuneJob')).toEqual(
      expect.arrayContaining([
        'id',
        'status',
        'error',
        'adapter',
        'dataset',
        'baseModel',
        'checkpoints',
        'evaluations',
      ]),
    );
    expect(fields('Evaluation')).toEqual(expect.arrayContaining(['id', 'status', 'metrics', 'job']));
    expect(fields('TrainingEvent')).toEqual(
      expect.arrayContaining(['sequence', 'step', 'totalSteps', 'loss', 'learningRate', 'tokensPerSecond']),
    );
    expect(fields('ImportDatasetPayload')).toContain('dataset');
    expect(fields('Dataset')).toEqual(expect.arrayContaining(['id', 'status', 'report']));
  });

  it('has committed resolver types generated from the current SDL', async () => {
    const committed = readFileSync(GENERATED_TYPES_PATH, 'utf8');
    expect(await generateResolverTypes(loadTypeDefs()), 'run: pnpm --filter @tunemesh/gateway codegen').toBe(committed);
  });
});

describe('methods catalogue', () => {
  it('describes exactly the fields of each method input', () => {
    const schema = buildSchema(loadTypeDefs());
    const methodInput = schema.getType('MethodInput') as GraphQLInputObjectType;
    expect(METHOD_DESCRIPTIONS.map((m) => m.key).sort()).toEqual(Object.keys(methodInput.getFields()).sort());
    for (const m of METHOD_DESCRIPTIONS) {
      const input = methodInput.getFields()[m.key]?.type as GraphQLInputObjectType;
      const properties = (m.settingsSchema as { properties: Record<string, unknown> }).properties;
      expect(Object.keys(properties).sort(), m.key).toEqual(Object.keys(input.getFields()).sort());
    }
  });
});
