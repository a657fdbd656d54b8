// Limits over the real HTTP and WebSocket transports: depth and cost refused before any gRPC call, page size,
// body size, per-key rate limit, introspection turned off.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runAdmin } from '../services/gateway/src/admin.js';
import { executeOverWebSocket } from '../services/gateway/src/index.js';
import { type GatewayHarness, startGatewayHarness } from './gateway/harness.js';

const codeOf = (r: { errors?: readonly { extensions?: Record<string, unknown> }[] }) => r.errors?.[0]?.extensions;

describe('query limits', () => {
  let h: GatewayHarness;
  beforeAll(async () => {
    h = await startGatewayHarness({
      GRAPHQL_MAX_DEPTH: '5',
      GRAPHQL_MAX_COST: '400',
      MAX_BODY_BYTES: '4096',
      MAX_UPLOAD_BYTES: '1000',
      GRAPHQL_INTROSPECTION: 'false',
    });
  });
  afterAll(() => h?.stop());

  it('refuses a query past the depth limit over HTTP and WebSocket, calling no service', async () => {
    const deep = '{ fineTuneJobs { edges { node { evaluations { job { id } } } } } }';
    expect(codeOf(await h.graphql(deep))).toMatchObject({ code: 'BAD_USER_INPUT', reason: 'DEPTH_LIMIT' });
    expect(codeOf(await executeOverWebSocket(h.gateway.wsUrl, { query: deep }))).toMatchObject({
      code: 'BAD_USER_INPUT',
      reason: 'DEPTH_LIMIT',
    });
    expect(h.calls).toEqual([]);
  });

  it('refuses a query past the cost limit', async () => {
    const costly = '{ fineTuneJobs(first: 100) { edges { node { id name } } } }';
    expect(codeOf(await h.graphql(costly))).toMatchObject({ code: 'BAD_USER_INPUT', reason: 'COST_LIMIT' });
    expect(h.calls).toEqual([]);
  });

  it('refuses a body over the limit with 413', async () => {
    const res = await fetch(h.gateway.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: `{ methods { key } } # ${'x'.repeat(5000)}` }),
    });
    expect(res.status).toBe(413);
    expect(((await res.json()) as { errors: { extensions: { code: string } }[] }).errors[0]?.extensions.code).toBe(
      'BAD_USER_INPUT',
    );
  });

  it('refuses an upload over the limit with 413, calling no service', async () => {
    const form = new FormData();
    form.set(
      'operations',
      JSON.stringify({
        query: 'mutation($f: Upload) { importDataset(input: {name: "x", upload: $f}) { alreadyExisted } }',
        variables: { f: null },
      }),
    );
    form.set('map', JSON.stringify({ 0: ['variables.f'] }));
    form.set('0', new Blob(['x'.repeat(2000)]), 'big.jsonl');
    const res = await fetch(h.gateway.url, {
      method: 'POST',
      body: form,
      headers: { 'apollo-require-preflight': 'true' },
    });
    expect(res.status).toBe(413);
    expect(h.calls).toEqual([]);
  });

  it('refuses introspection when it is off, on both transports', async () => {
    const query = '{ __schema { queryType { name } } }';
    expect(codeOf(await h.graphql(query))?.code).toBe('BAD_USER_INPUT');
    expect(codeOf(await executeOverWebSocket(h.gateway.wsUrl, { query }))?.code).toBe('BAD_USER_INPUT');
  });
});

describe('rate limit', () => {
  let h: GatewayHarness;
  let dir: string;
  const keys: string[] = [];
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tunemesh-gateway-limits-'));
    const file = join(dir, 'keys.json');
    for (let i = 0; i < 2; i++) {
      const lines: string[] = [];
      runAdmin(['keys', 'create', '--role', 'viewer', '--file', file], (l) => lines.push(l));
      keys.push(lines.join('\n').split('\n').at(-1) ?? '');
    }
    h = await startGatewayHarness({ GATEWAY_DEV_MODE: 'false', GATEWAY_KEYS_FILE: file, RATE_LIMIT_PER_MINUTE: '5' });
  });
  afterAll(async () => {
    await h?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('limits each key on its own, with 429 and Retry-After', async () => {
    const ask = (key: string) =>
      fetch(h.gateway.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
        body: JSON.stringify({ query: '{ methods { key } }' }),
      });
    for (let i = 0; i < 5; i++) expect((await ask(keys[0] ?? '')).status).toBe(200);
    const limited = await ask(keys[0] ?? '');
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    const body = (await limited.json()) as { errors: { extensions: Record<string, unknown> }[] };
    expect(body.errors[0]?.extensions).toMatchObject({ code: 'UNAVAILABLE', reason: 'RATE_LIMITED' });
    expect((await ask(keys[1] ?? '')).status).toBe(200);
    // WebSocket operations of the limited key are refused too.
    const ws = await executeOverWebSocket(
      h.gateway.wsUrl,
      { query: '{ methods { key } }' },
      { connectionParams: { apiKey: keys[0] } },
    );
    expect(codeOf(ws)).toMatchObject({ code: 'UNAVAILABLE', reason: 'RATE_LIMITED' });
  });
});
