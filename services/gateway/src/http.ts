// Node's http server in front of Apollo Server (executeHTTPGraphQLRequest, the integration API), so graphql-ws
// can share the same server and port. /healthz answers liveness probes without touching the mesh.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { type ApolloServer, HeaderMap } from '@apollo/server';
import { SpanStatusCode } from '@opentelemetry/api';
import type { Logger } from '@tunemesh/kit';
import { runInSpan, startRequestSpan } from './tracing.js';

export const GRAPHQL_PATH = '/graphql';
const MAX_BODY_BYTES = 1024 * 1024;

class BodyTooLarge extends Error {}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new BodyTooLarge();
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function send(res: ServerResponse, status: number, body: string, contentType = 'application/json'): void {
  res.writeHead(status, { 'content-type': contentType }).end(body);
}

function errorBody(message: string, code: string): string {
  return JSON.stringify({ errors: [{ message, extensions: { code } }] });
}

export function graphQLRequestHandler<C extends object>(
  apollo: ApolloServer<C>,
  makeContext: (req: IncomingMessage) => Promise<C>,
  logger: Logger,
) {
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://gateway');
    if (url.pathname === '/healthz') return send(res, 200, '{"status":"ok"}');
    if (url.pathname !== GRAPHQL_PATH) return send(res, 404, errorBody(`not found: use ${GRAPHQL_PATH}`, 'NOT_FOUND'));

    const { span, ctx } = startRequestSpan(`${req.method ?? 'GET'} ${GRAPHQL_PATH}`, req.headers);
    try {
      let body: unknown;
      try {
        const raw = await readBody(req);
        const isJson = (req.headers['content-type'] ?? '').includes('application/json');
        body = isJson && raw !== '' ? JSON.parse(raw) : raw;
      } catch (err) {
        span.setStatus({ code: SpanStatusCode.ERROR });
        if (err instanceof BodyTooLarge) return send(res, 413, errorBody('request body too large', 'BAD_USER_INPUT'));
        return send(res, 400, errorBody('request body is not valid JSON', 'BAD_USER_INPUT'));
      }
      const headers = new HeaderMap();
      for (const [key, value] of Object.entries(req.headers)) {
        if (value !== undefined) headers.set(key, Array.isArray(value) ? value.join(', ') : value);
      }
      const response = await runInSpan(ctx, () =>
        apollo.executeHTTPGraphQLRequest({
          httpGraphQLRequest: { method: req.method ?? 'GET', headers, search: url.search, body },
          context: () => makeContext(req),
        }),
      );
      span.setAttribute('http.response.status_code', response.status ?? 200);
      for (const [key, value] of response.headers) res.setHeader(key, value);
      res.statusCode = response.status ?? 200;
      if (response.body.kind === 'complete') {
        res.end(response.body.string);
        return;
      }
      for await (const chunk of response.body.asyncIterator) res.write(chunk);
      res.end();
    } catch (err) {
      logger.error({ err }, 'GraphQL request failed');
      span.setStatus({ code: SpanStatusCode.ERROR });
      if (!res.headersSent) send(res, 500, errorBody('internal error', 'INTERNAL'));
      else res.end();
    } finally {
      span.end();
    }
  };
}
