// A one-shot GraphQL-over-WebSocket client (graphql-ws protocol): for scripts and tests that check the
// WebSocket transport of a running gateway.
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';

export interface GraphQLResult {
  data?: Record<string, unknown> | null;
  errors?: readonly { message: string; extensions?: Record<string, unknown> }[];
}

export async function executeOverWebSocket(
  url: string,
  request: { query: string; variables?: Record<string, unknown> },
  options: { timeoutMs?: number; connectionParams?: Record<string, unknown> } = {},
): Promise<GraphQLResult> {
  const client = createClient({
    url,
    webSocketImpl: WebSocket,
    retryAttempts: 0,
    lazy: true,
    ...(options.connectionParams ? { connectionParams: options.connectionParams } : {}),
  });
  try {
    return await new Promise<GraphQLResult>((resolve, reject) => {
      let result: GraphQLResult = {};
      const timer = setTimeout(() => reject(new Error(`no answer from ${url} in time`)), options.timeoutMs ?? 10_000);
      client.subscribe(request, {
        next: (value) => {
          result = value as GraphQLResult;
        },
        error: (err) => {
          clearTimeout(timer);
          // graphql-ws sends errors found before execution (validation, limits) as an error message: a
          // GraphQL error list, returned here like an HTTP response would carry it.
          if (Array.isArray(err)) resolve({ errors: err as GraphQLResult['errors'] });
          else reject(err instanceof Error ? err : new Error(`WebSocket error: ${JSON.stringify(err)}`));
        },
        complete: () => {
          clearTimeout(timer);
          resolve(result);
        },
      });
    });
  } finally {
    await client.dispose();
  }
}

export interface SubscriptionHandle {
  /** Every result received so far, in order. */
  readonly results: GraphQLResult[];
  /** Settles when the server completes the subscription (resolves) or the connection fails (rejects). */
  readonly done: Promise<GraphQLResult[]>;
  /** Resolves once `count` results have arrived. */
  waitFor(count: number, timeoutMs?: number): Promise<GraphQLResult[]>;
  close(): Promise<void>;
}

/** One subscription over its own WebSocket connection, collecting what it receives (tests, scripts). */
export function subscribeOverWebSocket(
  url: string,
  request: { query: string; variables?: Record<string, unknown> },
  options: { connectionParams?: Record<string, unknown> } = {},
): SubscriptionHandle {
  const client = createClient({
    url,
    webSocketImpl: WebSocket,
    retryAttempts: 0,
    lazy: true,
    ...(options.connectionParams ? { connectionParams: options.connectionParams } : {}),
  });
  const results: GraphQLResult[] = [];
  const waiters: { count: number; resolve: () => void }[] = [];
  const done = new Promise<GraphQLResult[]>((resolve, reject) => {
    client.subscribe(request, {
      next: (value) => {
        results.push(value as GraphQLResult);
        for (const w of waiters.filter((w) => results.length >= w.count)) w.resolve();
      },
      error: (err) => reject(err instanceof Error ? err : new Error(`WebSocket closed: ${JSON.stringify(err)}`)),
      complete: () => resolve(results),
    });
  });
  done.catch(() => {}); // observed through `done` by callers that care; a closed socket is expected on restart
  return {
    results,
    done,
    waitFor(count, timeoutMs = 10_000) {
      if (results.length >= count) return Promise.resolve(results);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`got ${results.length} of ${count} results`)), timeoutMs);
        waiters.push({
          count,
          resolve: () => {
            clearTimeout(timer);
            resolve(results);
          },
        });
      });
    },
    close: () => client.dispose() as Promise<void>,
  };
}
