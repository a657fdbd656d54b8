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
          reject(err instanceof Error ? err : new Error(`WebSocket error: ${JSON.stringify(err)}`));
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
