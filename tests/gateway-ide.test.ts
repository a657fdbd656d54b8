// The offline GraphQL IDE: a browser's GET /graphql gets GraphiQL, whose scripts and styles all come from the
// gateway itself (node_modules), none from a CDN; the page's subscriptions go over graphql-ws with the key
// from its Headers tab (its script run in a VM against the real gateway, with GraphiQL and React stubbed).
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createContext, runInContext } from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runAdmin } from '../services/gateway/src/admin.js';
import { type GatewayHarness, startGatewayHarness } from './gateway/harness.js';

// The WebSocket class of the `ws` package the gateway itself uses (a browser has its own).
const wsPackage = createRequire(new URL('../services/gateway/package.json', import.meta.url))('ws') as {
  WebSocket?: unknown;
};
const WebSocket = wsPackage.WebSocket ?? wsPackage;

let h: GatewayHarness;
beforeAll(async () => {
  h = await startGatewayHarness();
});
afterAll(() => h?.stop());

describe('GraphQL IDE', () => {
  it('serves GraphiQL with every asset local', async () => {
    const page = await fetch(h.gateway.url, { headers: { accept: 'text/html' } });
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain('GraphiQL');
    const srcs = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1] ?? '');
    expect(srcs).toHaveLength(5);
    expect(html).not.toMatch(/https?:\/\//); // nothing from another host
    for (const src of srcs) {
      expect(src.startsWith('/graphql/ide/')).toBe(true);
      const asset = await fetch(new URL(src, h.gateway.url));
      expect(asset.status, src).toBe(200);
      const body = await asset.text();
      expect(body.length, src).toBeGreaterThan(1000);
      expect(body, src).not.toMatch(/unpkg\.com|cdn\.jsdelivr|cdnjs/);
    }
  });

  it('leaves API requests to GraphQL', async () => {
    const res = await fetch(`${h.gateway.url}?query=${encodeURIComponent('{ methods { key } }')}`, {
      headers: { accept: 'application/json', 'apollo-require-preflight': 'true' },
    });
    expect(((await res.json()) as { data: { methods: unknown[] } }).data.methods).toHaveLength(8);
    expect((await fetch(`${h.gateway.url}/ide/nope.js`)).status).toBe(404);
  });
});

describe('GraphQL IDE subscriptions', () => {
  let auth: GatewayHarness;
  let dir: string;
  let token = '';
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tunemesh-gateway-ide-'));
    const keysFile = join(dir, 'keys.json');
    const lines: string[] = [];
    expect(runAdmin(['keys', 'create', '--role', 'viewer', '--file', keysFile], (l) => lines.push(l))).toBe(0);
    token = lines.join('\n').split('\n').at(-1) ?? '';
    auth = await startGatewayHarness({ GATEWAY_DEV_MODE: 'false', GATEWAY_KEYS_FILE: keysFile });
  });
  afterAll(async () => {
    await auth?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('runs operations over WebSocket with the key from the Headers tab', async () => {
    const html = await (await fetch(auth.gateway.url, { headers: { accept: 'text/html' } })).text();
    const inline = /<script>([\s\S]*?)<\/script>/.exec(html)?.[1];
    expect(inline).toBeDefined();
    const wsClientCode = await (await fetch(new URL('/graphql/ide/graphql-ws.js', auth.gateway.url))).text();
    const url = new URL(auth.gateway.url);
    let fetcherOptions: { url?: string; wsClient?: WsClient } = {};
    let props: { onEditHeaders?: (text: string) => void; defaultHeaders?: string } = {};
    const sandbox = createContext({
      WebSocket,
      location: { protocol: url.protocol, host: url.host },
      GraphiQL: {
        createFetcher: (o: typeof fetcherOptions) => {
          fetcherOptions = o;
          return () => undefined;
        },
      },
      React: { createElement: (_component: unknown, p: typeof props) => p },
      ReactDOM: { createRoot: () => ({ render: (p: typeof props) => (props = p) }) },
      document: { getElementById: () => ({}) },
      setTimeout,
      clearTimeout,
    });
    runInContext(wsClientCode, sandbox);
    runInContext(inline as string, sandbox);
    expect(fetcherOptions.url).toBe('/graphql');
    const ws = fetcherOptions.wsClient as WsClient;
    const run = (query: string) =>
      new Promise<{ data?: { methods?: unknown[] }; errors?: { extensions?: { code?: string } }[] }[]>(
        (resolve, reject) => {
          const results: { data?: { methods?: unknown[] }; errors?: { extensions?: { code?: string } }[] }[] = [];
          ws.subscribe({ query }, { next: (r) => results.push(r), error: reject, complete: () => resolve(results) });
        },
      );
    // The placeholder key in the default headers is not sent: the gateway answers UNAUTHENTICATED.
    expect((await run('{ methods { key } }'))[0]?.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    props.onEditHeaders?.(JSON.stringify({ Authorization: `Bearer ${token}` }));
    // The lazy client closed after the last operation; the next one connects with the edited key.
    await new Promise((r) => setTimeout(r, 200));
    const ok = await run('{ methods { key } }');
    expect(ok[0]?.errors, JSON.stringify(ok)).toBeUndefined();
    expect(ok[0]?.data?.methods).toHaveLength(8);
    await ws.dispose();
  });
});

interface WsClient {
  subscribe(
    payload: { query: string },
    sink: {
      next(r: { data?: { methods?: unknown[] }; errors?: { extensions?: { code?: string } }[] }): void;
      error(e: unknown): void;
      complete(): void;
    },
  ): () => void;
  dispose(): Promise<void> | void;
}
