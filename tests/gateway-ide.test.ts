// The offline GraphQL IDE: a browser's GET /graphql gets GraphiQL, whose scripts and styles all come from the
// gateway itself (node_modules), none from a CDN.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type GatewayHarness, startGatewayHarness } from './gateway/harness.js';

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
    expect(srcs).toHaveLength(4);
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
