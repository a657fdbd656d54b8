// An offline GraphQL IDE at the endpoint: GraphiQL 3's UMD bundle with React 18's UMD builds and graphql-ws's
// client (subscriptions), all read from node_modules and served by the gateway itself, so the page works on
// machines without internet (no CDN).
// A browser's GET /graphql (Accept: text/html) gets the page; its assets live under /graphql/ide/.
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { GRAPHQL_PATH } from './http.js';

const require = createRequire(import.meta.url);

export const IDE_ASSETS_PATH = `${GRAPHQL_PATH}/ide`;

// Files are found from each package's package.json: graphiql's exports map does not list its UMD bundle.
const ASSETS: Record<string, { pkg: string; file: string; type: string }> = {
  'react.js': { pkg: 'react', file: 'umd/react.production.min.js', type: 'text/javascript' },
  'react-dom.js': { pkg: 'react-dom', file: 'umd/react-dom.production.min.js', type: 'text/javascript' },
  'graphiql.js': { pkg: 'graphiql', file: 'dist/index.umd.js', type: 'text/javascript' },
  'graphiql.css': { pkg: 'graphiql', file: 'dist/style.css', type: 'text/css' },
  // The graphql-ws client (the gateway's own WebSocket protocol) for subscriptions in the IDE.
  'graphql-ws.js': { pkg: 'graphql-ws', file: 'umd/graphql-ws.min.js', type: 'text/javascript' },
};

// Read once, on first use: the files never change while the process runs.
const cache = new Map<string, Buffer>();
function asset(name: string): Buffer | undefined {
  const spec = ASSETS[name];
  if (spec === undefined) return undefined;
  let body = cache.get(name);
  if (body === undefined) {
    body = readFileSync(join(dirname(require.resolve(`${spec.pkg}/package.json`)), spec.file));
    cache.set(name, body);
  }
  return body;
}

const PAGE = `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>tunemesh GraphQL</title>
  <link rel="stylesheet" href="${IDE_ASSETS_PATH}/graphiql.css">
  <style>html, body, #ide { height: 100%; margin: 0; }</style>
</head>
<body>
  <div id="ide">Loading the GraphQL IDE…</div>
  <script src="${IDE_ASSETS_PATH}/react.js"></script>
  <script src="${IDE_ASSETS_PATH}/react-dom.js"></script>
  <script src="${IDE_ASSETS_PATH}/graphiql.js"></script>
  <script src="${IDE_ASSETS_PATH}/graphql-ws.js"></script>
  <script>
    // Queries and mutations over HTTP, subscriptions over WebSocket (graphql-ws) on the same endpoint. Put your
    // key in the Headers tab: {"Authorization": "Bearer tmk_..."}; HTTP sends it as a header, and the WebSocket
    // as connection params, read when it connects (lazily, at a subscription; it closes when none runs).
    const defaultHeaders = '{\\n  "Authorization": "Bearer <your API key>"\\n}';
    let headersText = defaultHeaders;
    const connectionParams = () => {
      try {
        const h = JSON.parse(headersText || '{}');
        const key = h.Authorization ?? h.authorization;
        return typeof key === 'string' && !key.includes('<') ? { authorization: key } : {};
      } catch {
        return {};
      }
    };
    const wsClient = graphqlWs.createClient({
      url: (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '${GRAPHQL_PATH}',
      lazy: true,
      connectionParams,
    });
    const fetcher = GraphiQL.createFetcher({ url: '${GRAPHQL_PATH}', wsClient });
    ReactDOM.createRoot(document.getElementById('ide')).render(
      React.createElement(GraphiQL, {
        fetcher,
        defaultHeaders,
        headerEditorEnabled: true,
        shouldPersistHeaders: false,
        onEditHeaders: (text) => {
          headersText = text;
        },
      }),
    );
  </script>
</body>
</html>
`;

/** Serves the IDE page and its assets; false for any other request. */
export function serveIde(req: IncomingMessage, res: ServerResponse, url: URL): boolean {
  if (req.method !== 'GET' && req.method !== 'HEAD') return false;
  if (url.pathname.startsWith(`${IDE_ASSETS_PATH}/`)) {
    const name = url.pathname.slice(IDE_ASSETS_PATH.length + 1);
    const body = asset(name);
    const spec = ASSETS[name];
    if (body === undefined || spec === undefined) return false;
    res.writeHead(200, { 'content-type': `${spec.type}; charset=utf-8`, 'cache-control': 'public, max-age=86400' });
    res.end(req.method === 'HEAD' ? undefined : body);
    return true;
  }
  const wantsHtml = (req.headers.accept ?? '').includes('text/html');
  if (url.pathname === GRAPHQL_PATH && wantsHtml && !url.searchParams.has('query')) {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(PAGE);
    return true;
  }
  return false;
}
