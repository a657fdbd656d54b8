// Node's http server in front of Apollo Server (executeHTTPGraphQLRequest, the integration API), so graphql-ws
// can share the same server and port. /healthz answers liveness probes without touching the mesh.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { type ApolloServer, HeaderMap } from '@apollo/server';
import { SpanStatusCode } from '@opentelemetry/api';
import type { Logger } from '@tunemesh/kit';
import { MultipartError, type MultipartRequest, readMultipart } from './multipart.js';
import { runInSpan, startRequestSpan } from './tracing.js';

export const GRAPHQL_PATH = '/graphql';

class BodyTooLarge extends Error {}

async function readBody(req: IncomingMessage, maxBytes: number): Promise<string> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBytes) throw new BodyTooLarge();
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > maxBytes) throw new BodyTooLarge();
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

export interface RequestHandlerOptions<C> {
  /** The context of one request (its caller comes from the request's headers). */
  makeContext(req: IncomingMessage): Promise<C>;
  /** 0 when the request may run, else the seconds until the caller may retry (rate limit). */
  admit(req: IncomingMessage): number;
  maxBodyBytes: number;
  /** Largest file of a multipart request (importDataset's upload). */
  maxUploadBytes: number;
  /** Other paths served beside /graphql and /healthz (metrics, IDE assets); true when handled. */
  extraRoutes?: (req: IncomingMessage, res: ServerResponse, url: URL) => boolean | Promise<boolean>;
}

export function graphQLRequestHandler<C extends object>(
  apollo: ApolloServer<C>,
  options: RequestHandlerOptions<C>,
  logger: Logger,
) {
  const { makeContext, maxBodyBytes } = options;
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://gateway');
    if (url.pathname === '/healthz') return send(res, 200, '{"status":"ok"}');
    try {
      if (options.extraRoutes && (await options.extraRoutes(req, res, url))) return;
    } catch (err) {
      logger.error({ err, path: url.pathname }, 'request failed');
      if (!res.headersSent) send(res, 500, errorBody('internal error', 'INTERNAL'));
      else res.end();
      return;
    }
    if (url.pathname !== GRAPHQL_PATH) return send(res, 404, errorBody(`not found: use ${GRAPHQL_PATH}`, 'NOT_FOUND'));
    const retryAfter = options.admit(req);
    if (retryAfter > 0) {
      res.setHeader('retry-after', String(retryAfter));
      return send(
        res,
        429,
        JSON.stringify({
          errors: [
            {
              message: `rate limit exceeded: retry in ${retryAfter}s`,
              extensions: { code: 'UNAVAILABLE', reason: 'RATE_LIMITED', retryAfterSeconds: retryAfter },
            },
          ],
        }),
      );
    }

    const { span, ctx } = startRequestSpan(`${req.method ?? 'GET'} ${GRAPHQL_PATH}`, req.headers);
    try {
      let body: unknown;
      let multipart = false;
      let upload: MultipartRequest | undefined;
      try {
        if ((req.headers['content-type'] ?? '').includes('multipart/form-data')) {
          // A browser may send a multipart form cross-site without a preflight; Apollo's CSRF check relies on
          // the content type, which is rewritten to JSON below, so the preflight header is required here.
          if (
            req.headers['apollo-require-preflight'] === undefined &&
            req.headers['x-apollo-operation-name'] === undefined
          ) {
            return send(
              res,
              400,
              errorBody(
                'multipart requests need an Apollo-Require-Preflight header (CSRF protection)',
                'BAD_USER_INPUT',
              ),
            );
          }
          upload = await readMultipart(req, options.maxUploadBytes);
          body = upload.operations;
          multipart = true;
        } else {
          const raw = await readBody(req, maxBodyBytes);
          const isJson = (req.headers['content-type'] ?? '').includes('application/json');
          body = isJson && raw !== '' ? JSON.parse(raw) : raw;
        }
      } catch (err) {
        span.setStatus({ code: SpanStatusCode.ERROR });
        if (err instanceof MultipartError) return send(res, err.status, errorBody(err.message, 'BAD_USER_INPUT'));
        if (err instanceof BodyTooLarge) {
          return send(res, 413, errorBody(`request body over the limit of ${maxBodyBytes} bytes`, 'BAD_USER_INPUT'));
        }
        return send(res, 400, errorBody('request body is not valid JSON', 'BAD_USER_INPUT'));
      }
      const headers = new HeaderMap();
      for (const [key, value] of Object.entries(req.headers)) {
        if (value !== undefined) headers.set(key, Array.isArray(value) ? value.join(', ') : value);
      }
      // The multipart body is now the parsed operations object: Apollo sees a JSON request.
      if (multipart) headers.set('content-type', 'application/json');
      const response = await runInSpan(ctx, () =>
        apollo.executeHTTPGraphQLRequest({
          httpGraphQLRequest: { method: req.method ?? 'GET', headers, search: url.search, body },
          context: () => makeContext(req),
        }),
      ).finally(() => upload?.drain());
      // A file that broke the upload limit while the operation streamed it fails the request as a whole.
      const uploadFailure = upload?.failure();
      if (uploadFailure !== undefined) {
        span.setStatus({ code: SpanStatusCode.ERROR });
        return send(res, uploadFailure.status, errorBody(uploadFailure.message, 'BAD_USER_INPUT'));
      }
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
