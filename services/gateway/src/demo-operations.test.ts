// The operations `make demo` sends (examples/graphql/demo.graphql) validate against this schema, so a schema
// change that breaks them fails here rather than in a user's IDE. (Here, beside the schema, because graphql is
// the gateway's dependency.)
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { buildSchema, type OperationDefinitionNode, parse, validate } from 'graphql/index.js';
import { describe, expect, it } from 'vitest';
import { loadTypeDefs } from './schema.js';

const DEMO_OPERATIONS = fileURLToPath(new URL('../../../examples/graphql/demo.graphql', import.meta.url));

describe('examples/graphql/demo.graphql', () => {
  const schema = buildSchema(loadTypeDefs());
  const document = parse(readFileSync(DEMO_OPERATIONS, 'utf8'));
  const operations = document.definitions.filter((d): d is OperationDefinitionNode => d.kind === 'OperationDefinition');

  it('validates against the gateway schema', () => {
    expect(validate(schema, document).map((e) => e.message)).toEqual([]);
  });

  it('holds the workflow the demo walks, each operation named', () => {
    expect(operations.every((o) => o.name !== undefined)).toBe(true);
    const rootFields = operations.flatMap((o) =>
      o.selectionSet.selections.flatMap((s) => (s.kind === 'Field' ? [`${o.operation} ${s.name.value}`] : [])),
    );
    expect(rootFields).toEqual(
      expect.arrayContaining([
        'mutation registerBaseModel',
        'mutation importDataset',
        'query dataset',
        'mutation createFineTuneJob',
        'subscription trainingProgress',
        'query evaluations',
        'query leaderboard',
        'mutation mergeAdapter',
        'mutation exportModel',
      ]),
    );
  });

  it("creates the LoRA job with the seed's settings", () => {
    const text = readFileSync(DEMO_OPERATIONS, 'utf8');
    expect(text).toMatch(/lora: \{ r: 8, alpha: 32, dropout: 0\.05, targetModules: \["q_proj", "v_proj"\] \}/);
  });
});
