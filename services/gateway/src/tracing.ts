// A SERVER span per GraphQL request (continuing a caller's traceparent), active while resolvers run, so the
// gRPC client spans and the services' server spans join one trace.

import type { IncomingHttpHeaders } from 'node:http';
import type { ApolloServerPlugin } from '@apollo/server';
import {
  type Context,
  context,
  propagation,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  trace,
} from '@opentelemetry/api';
import { tracer } from '@tunemesh/kit';

export function startRequestSpan(name: string, headers: IncomingHttpHeaders): { span: Span; ctx: Context } {
  const parent = propagation.extract(ROOT_CONTEXT, headers);
  const span = tracer('gateway').startSpan(
    name,
    { kind: SpanKind.SERVER, attributes: { 'graphql.transport': 'http' } },
    parent,
  );
  return { span, ctx: trace.setSpan(parent, span) };
}

/** Names the active request span after the operation and marks it failed when the response carries errors. */
export function operationSpanPlugin<C extends object>(): ApolloServerPlugin<C> {
  return {
    async requestDidStart() {
      const span = trace.getActiveSpan();
      return {
        async didResolveOperation({ operation, operationName }) {
          if (operation === undefined) return;
          span?.updateName(`graphql ${operation.operation}${operationName ? ` ${operationName}` : ''}`);
          span?.setAttribute('graphql.operation.type', operation.operation);
          if (operationName) span?.setAttribute('graphql.operation.name', operationName);
        },
        async didEncounterErrors({ errors }) {
          span?.setStatus({ code: SpanStatusCode.ERROR, message: errors[0]?.message ?? 'error' });
        },
      };
    },
  };
}

export function runInSpan<T>(ctx: Context, fn: () => T): T {
  return context.with(ctx, fn);
}
