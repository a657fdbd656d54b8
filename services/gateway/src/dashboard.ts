// The dashboard (apps/dashboard, a Vite single-page app) served at `/` from its built files, so one port gives
// the API, the GraphQL IDE (/graphql, ide.ts) and the page, with nothing fetched from the internet.
// The files come from @tunemesh/dashboard's dist/ (or DASHBOARD_DIR); `pnpm run build` makes them.
import { existsSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, extname, join, normalize, sep } from 'node:path';

const require = createRequire(import.meta.url);

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.woff2': 'font/woff2',
};

/** The dashboard's dist/ directory; undefined when the package is not installed beside the gateway. */
export function defaultDashboardDir(): string | undefined {
  try {
    return join(dirname(require.resolve('@tunemesh/dashboard/package.json')), 'dist');
  } catch {
    return undefined;
  }
}

const NOT_BUILT = (dir: string | undefined) => `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>tunemesh</title></head>
<body><h1>The dashboard is not built</h1>
<p>No built dashboard at <code>${dir ?? '(package @tunemesh/dashboard not installed)'}</code>: run <code>pnpm run build</code>
(or <code>make build</code>) and reload. The GraphQL API and its IDE are at <a href="/graphql">/graphql</a>.</p>
</body></html>
`;

/**
 * Serves GET/HEAD `/` (index.html) and the files under the dashboard directory; false for anything else, so
 * /graphql, /healthz and /metrics keep their handlers. Hashed assets are cached for long, index.html never.
 */
export function dashboardRoutes(dir: string | undefined) {
  return async (req: IncomingMessage, res: ServerResponse, url: URL): Promise<boolean> => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return false;
    const isIndex = url.pathname === '/' || url.pathname === '/index.html';
    if (dir === undefined || !existsSync(join(dir, 'index.html'))) {
      if (!isIndex) return false;
      res.writeHead(503, { 'content-type': TYPES['.html'] }).end(NOT_BUILT(dir));
      return true;
    }
    let relative: string;
    try {
      relative = isIndex ? 'index.html' : normalize(decodeURIComponent(url.pathname)).replace(/^[/\\]+/, '');
    } catch {
      return false; // malformed percent-encoding: not a file of ours
    }
    const file = join(dir, relative);
    // Never outside the directory (../ in the path), and only the types a built app contains.
    if (!file.startsWith(dir + sep) || TYPES[extname(file)] === undefined) return false;
    const info = await stat(file).catch(() => undefined);
    if (!info?.isFile()) return false;
    const body = await readFile(file);
    res.writeHead(200, {
      'content-type': TYPES[extname(file)] ?? 'application/octet-stream',
      'content-length': String(body.length),
      'cache-control': isIndex ? 'no-cache' : 'public, max-age=31536000, immutable',
    });
    res.end(req.method === 'HEAD' ? undefined : body);
    return true;
  };
}
