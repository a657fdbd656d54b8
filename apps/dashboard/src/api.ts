// The dashboard's only backend is the gateway's GraphQL API on the same origin: queries and mutations over HTTP
// (fetch), subscriptions over graphql-ws on the same path. The API key lives in sessionStorage: entered once,
// gone when the browser session ends.
import { type Client, createClient } from 'graphql-ws';

const KEY_ITEM = 'tunemesh.apiKey';
export const GRAPHQL_PATH = '/graphql';

export function storedKey(): string | null {
  return sessionStorage.getItem(KEY_ITEM);
}

export function storeKey(key: string | null): void {
  if (key === null) sessionStorage.removeItem(KEY_ITEM);
  else sessionStorage.setItem(KEY_ITEM, key);
  wsClient?.dispose();
  wsClient = undefined;
}

export interface GraphQLErrorShape {
  message: string;
  path?: readonly (string | number)[];
  extensions?: { code?: string; field?: string; [key: string]: unknown };
}

/** A failed operation: the gateway's messages and codes (extensions.code), or a transport failure. */
export class ApiError extends Error {
  constructor(
    message: string,
    readonly code: string,
    readonly errors: readonly GraphQLErrorShape[] = [],
  ) {
    super(message);
  }
}

function authHeaders(): Record<string, string> {
  const key = storedKey();
  return key ? { authorization: `Bearer ${key}` } : {};
}

function unwrap<T>(body: { data?: T | null; errors?: GraphQLErrorShape[] }, status: number): T {
  if (body.errors && body.errors.length > 0) {
    const first = body.errors[0];
    const where = first?.extensions?.field ? ` (${first.extensions.field})` : '';
    throw new ApiError(
      `${body.errors.map((e) => e.message).join('; ')}${where}`,
      String(first?.extensions?.code ?? 'INTERNAL'),
      body.errors,
    );
  }
  if (body.data === undefined || body.data === null) throw new ApiError(`empty response (HTTP ${status})`, 'INTERNAL');
  return body.data;
}

async function send<T>(init: RequestInit): Promise<T> {
  let res: Response;
  try {
    res = await fetch(GRAPHQL_PATH, init);
  } catch (err) {
    throw new ApiError(
      `the gateway cannot be reached: ${err instanceof Error ? err.message : String(err)}`,
      'UNAVAILABLE',
    );
  }
  let body: { data?: T | null; errors?: GraphQLErrorShape[] };
  try {
    body = (await res.json()) as typeof body;
  } catch {
    throw new ApiError(`the gateway answered HTTP ${res.status} without JSON`, 'INTERNAL');
  }
  return unwrap(body, res.status);
}

export function gql<T>(query: string, variables: Record<string, unknown> = {}): Promise<T> {
  return send<T>({
    method: 'POST',
    headers: { 'content-type': 'application/json', ...authHeaders() },
    body: JSON.stringify({ query, variables }),
  });
}

/**
 * One operation with one file, as a GraphQL multipart request (graphql-multipart-request-spec): the file
 * fills the variable at `filePath` (e.g. "variables.input.upload").
 */
export function gqlUpload<T>(
  query: string,
  variables: Record<string, unknown>,
  filePath: string,
  file: File,
): Promise<T> {
  const form = new FormData();
  form.append('operations', JSON.stringify({ query, variables }));
  form.append('map', JSON.stringify({ 0: [filePath] }));
  form.append('0', file, file.name);
  // The gateway requires this header on multipart requests (CSRF protection).
  return send<T>({ method: 'POST', headers: { 'apollo-require-preflight': 'true', ...authHeaders() }, body: form });
}

let wsClient: Client | undefined;

function ws(): Client {
  if (wsClient === undefined) {
    const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}${GRAPHQL_PATH}`;
    const key = storedKey();
    wsClient = createClient({
      url,
      connectionParams: key ? { authorization: `Bearer ${key}` } : {},
      retryAttempts: 5,
      lazy: true,
    });
  }
  return wsClient;
}

export interface SubscriptionHandlers<T> {
  next(data: T): void;
  error?(error: ApiError): void;
  complete?(): void;
}

/** Starts a subscription; the returned function stops it. */
export function subscribe<T>(
  query: string,
  variables: Record<string, unknown>,
  handlers: SubscriptionHandlers<T>,
): () => void {
  return ws().subscribe<T>(
    { query, variables },
    {
      next(result) {
        try {
          handlers.next(unwrap(result as { data?: T | null; errors?: GraphQLErrorShape[] }, 200));
        } catch (err) {
          handlers.error?.(err instanceof ApiError ? err : new ApiError(String(err), 'INTERNAL'));
        }
      },
      error(err) {
        const errors = Array.isArray(err) ? (err as GraphQLErrorShape[]) : [];
        const message =
          errors.length > 0
            ? errors.map((e) => e.message).join('; ')
            : err instanceof Error
              ? err.message
              : 'the subscription was closed';
        handlers.error?.(new ApiError(message, String(errors[0]?.extensions?.code ?? 'UNAVAILABLE'), errors));
      },
      complete() {
        handlers.complete?.();
      },
    },
  );
}
