// The gateway over the real dataset service (issue 6) and a real nats-server: import inline JSONL and from a
// path, read it back through the queries, refuse a bad file with the validation report, delete it.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GatewayHandle, GraphQLResult } from '../services/gateway/src/index.js';
import { startTestMesh, type TestMesh } from './support/mesh.js';

let mesh: TestMesh<'dataset' | 'gateway'>;
let gateway: GatewayHandle;
let dir: string;

beforeAll(async () => {
  mesh = await startTestMesh({
    name: 'tunemesh-gateway-dataset-',
    services: ['dataset', 'gateway'],
    models: {},
    data: [],
    // No trainer or evaluator: nothing listens at these addresses.
    env: { gateway: { TRAINER_ADDR: '127.0.0.1:1', EVALUATOR_ADDR: '127.0.0.1:1', GATEWAY_DEV_MODE: 'true' } },
  });
  ({ tmp: dir, gateway } = mesh);
}, 30_000);

afterAll(async () => {
  await mesh?.close();
});

function graphql(query: string, variables: Record<string, unknown> = {}): Promise<GraphQLResult> {
  return mesh.graphql(query, variables);
}

const IMPORT = `mutation($input: ImportDatasetInput!) {
  importDataset(input: $input) {
    alreadyExisted
    dataset { id name status format rows { total train validation } report { errorCount findings { line message } } }
  }
}`;

const rows = Array.from({ length: 20 }, (_, i) => JSON.stringify({ instruction: `say ${i}`, output: `${i}` }));

describe('datasets through the gateway', () => {
  it('imports inline JSONL, lists it, reads it, deletes it', async () => {
    const imported = await graphql(IMPORT, {
      input: { name: 'numbers', jsonl: `${rows.join('\n')}\n`, validationSplit: 0.25, seed: 1 },
    });
    expect(imported.errors).toBeUndefined();
    const payload = imported.data?.importDataset as {
      alreadyExisted: boolean;
      dataset: {
        id: string;
        status: string;
        format: string;
        rows: { total: number; train: number; validation: number };
      };
    };
    expect(payload.alreadyExisted).toBe(false);
    expect(payload.dataset).toMatchObject({ name: 'numbers', status: 'READY', format: 'ALPACA' });
    expect(payload.dataset.rows.total).toBe(20);
    expect(payload.dataset.rows.train + payload.dataset.rows.validation).toBe(20);
    expect(payload.dataset.rows.validation).toBeGreaterThan(0);

    const id = payload.dataset.id;
    const list = await graphql('{ datasets(first: 10) { edges { node { id name } } } }');
    expect(list.data?.datasets).toEqual({ edges: [{ node: { id, name: 'numbers' } }] });
    const one = await graphql('query($id: ID!) { dataset(id: $id) { id status } }', { id });
    expect(one.data?.dataset).toEqual({ id, status: 'READY' });

    const deleted = await graphql('mutation($id: ID!) { deleteDataset(id: $id) { id deleted } }', { id });
    expect(deleted.data?.deleteDataset).toEqual({ id, deleted: true });
    const gone = await graphql('query($id: ID!) { dataset(id: $id) { id } }', { id });
    expect(gone.data?.dataset).toBeNull();
  });

  it('imports from a path under the data roots, and refuses one outside them', async () => {
    const data = join(dir, 'data');
    const { mkdirSync } = await import('node:fs');
    mkdirSync(data, { recursive: true });
    writeFileSync(join(data, 'text.jsonl'), `${['a', 'b', 'c'].map((t) => JSON.stringify({ text: t })).join('\n')}\n`);
    const ok = await graphql(IMPORT, { input: { name: 'text', path: join(data, 'text.jsonl'), format: 'TEXT' } });
    expect(ok.errors).toBeUndefined();
    expect(ok.data?.importDataset).toMatchObject({ dataset: { status: 'READY', format: 'TEXT' } });
    const outside = await graphql(IMPORT, { input: { name: 'etc', path: '/etc/passwd' } });
    expect(outside.errors?.[0]?.extensions).toMatchObject({ code: 'FORBIDDEN', service: 'dataset' });
  });

  it('takes a classification template: label words reach validation, bad ones are refused by field', async () => {
    const reviews = [
      { text: 'A brilliant film.', label: 1 },
      { text: 'Dull and long.', label: 0 },
      { text: 'Loved every minute.', label: 1 },
      { text: 'Avoid it.', label: 2 },
    ];
    const jsonl = `${reviews.map((r) => JSON.stringify(r)).join('\n')}\n`;
    const template = (labelWords: { label: string; word: string }[]) => ({
      promptTemplate: 'Review: {text}\nSentiment:',
      labelWords,
    });
    const words = [
      { label: '0', word: ' negative' },
      { label: '1', word: ' positive' },
    ];
    // Label 2 has no word: the service's validation names it (the words arrived).
    const missing = await graphql(IMPORT, {
      input: { name: 'reviews', jsonl, format: 'CLASSIFICATION', template: template(words) },
    });
    expect(missing.errors).toBeUndefined();
    const report = (
      missing.data?.importDataset as
        | { dataset: { status: string; report: { findings: { line: number; message: string }[] } } }
        | undefined
    )?.dataset;
    expect(report?.status).toBe('FAILED');
    expect(report?.report.findings).toEqual([
      expect.objectContaining({ line: 4, message: expect.stringMatching(/label/) }),
    ]);

    const ok = await graphql(IMPORT, {
      input: {
        name: 'reviews',
        jsonl,
        format: 'CLASSIFICATION',
        template: template([...words, { label: '2', word: ' mixed' }]),
      },
    });
    expect(ok.errors).toBeUndefined();
    expect(ok.data?.importDataset).toMatchObject({ dataset: { status: 'READY', format: 'CLASSIFICATION' } });

    const twice = await graphql(IMPORT, {
      input: {
        name: 'reviews',
        jsonl,
        format: 'CLASSIFICATION',
        template: template([...words, words[0] as (typeof words)[0]]),
      },
    });
    expect(twice.errors?.[0]?.extensions).toMatchObject({
      code: 'BAD_USER_INPUT',
      field: 'input.template.labelWords[2].label',
    });
  });

  it('answers a file with errors with a FAILED dataset and its line-numbered report', async () => {
    const bad = await graphql(IMPORT, {
      input: { name: 'bad', jsonl: '{"instruction": "x", "output": "y"}\nnot json\n' },
    });
    expect(bad.errors).toBeUndefined();
    expect(bad.data?.importDataset).toMatchObject({
      dataset: {
        status: 'FAILED',
        report: { errorCount: 1, findings: [{ line: 2, message: expect.stringContaining('invalid JSON') }] },
      },
    });
  });

  it('imports a multipart upload (graphql-multipart-request-spec), with the file name giving the format', async () => {
    const form = new FormData();
    form.set(
      'operations',
      JSON.stringify({
        query: IMPORT,
        variables: { input: { name: 'uploaded', upload: null, format: 'CLASSIFICATION' } },
      }),
    );
    form.set('map', JSON.stringify({ 0: ['variables.input.upload'] }));
    const csv = 'text,label\ngood film,pos\nbad film,neg\nfine film,pos\n';
    form.set('0', new Blob([csv], { type: 'text/csv' }), 'reviews.csv');
    const res = await fetch(gateway.url, {
      method: 'POST',
      body: form,
      headers: { 'apollo-require-preflight': 'true' },
    });
    const result = (await res.json()) as GraphQLResult;
    expect(result.errors).toBeUndefined();
    expect(result.data?.importDataset).toMatchObject({
      dataset: { name: 'uploaded', status: 'READY', format: 'CLASSIFICATION', rows: { total: 3 } },
    });
    // Without the preflight header a cross-site form could post it: refused.
    const csrf = await fetch(gateway.url, { method: 'POST', body: form });
    expect(csrf.status).toBe(400);
  });
});
