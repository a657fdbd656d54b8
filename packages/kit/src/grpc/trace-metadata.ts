// OpenTelemetry across gRPC: the W3C trace context (traceparent, tracestate) travels in call metadata. The server
// middleware continues the caller's trace with a SERVER span; the client middleware starts a CLIENT span and
// injects it. Streams are iterated inside the span's context so handler code sees it as active.
import {
  type Context,
  context,
  propagation,
  type Span,
  SpanKind,
  SpanStatusCode,
  type TextMapGetter,
  type TextMapSetter,
  trace,
} from '@opentelemetry/api';
import { isAbortError } from 'abort-controller-x';
import {
  type CallContext,
  type CallOptions,
  ClientError,
  type ClientMiddleware,
  type ClientMiddlewareCall,
  Metadata,
  type MethodDescriptor,
  ServerError,
  type ServerMiddleware,
  type ServerMiddlewareCall,
  Status,
} from 'nice-grpc';
import { tracer } from '../telemetry.js';

export const metadataGetter: TextMapGetter<Metadata> = {
  keys: (carrier) => [...carrier].map(([key]) => key),
  get: (carrier, key) => {
    const value = carrier.get(key);
    return typeof value === 'string' ? value : undefined;
  },
};

export const metadataSetter: TextMapSetter<Metadata> = {
  set: (carrier, key, value) => {
    carrier.set(key, value);
  },
};

function spanAttributes(method: MethodDescriptor) {
  // path is "/package.Service/Method"
  const [, service = '', name = ''] = method.path.split('/');
  return { 'rpc.system': 'grpc', 'rpc.service': service, 'rpc.method': name };
}

function statusOf(err: unknown): Status {
  if (err instanceof ServerError || err instanceof ClientError) return err.code;
  if (isAbortError(err)) return Status.CANCELLED;
  return Status.UNKNOWN;
}

function endWithError(span: Span, err: unknown): void {
  const code = statusOf(err);
  span.setAttribute('rpc.grpc.status_code', code);
  span.setStatus({ code: SpanStatusCode.ERROR, message: Status[code] });
  span.end();
}

/** Runs each step of `generator` inside `ctx`, so code after an await inside it still sees the span. */
async function* bindToContext<T, R>(ctx: Context, generator: AsyncGenerator<T, R, undefined>): AsyncGenerator<T, R> {
  let finished = false;
  try {
    while (true) {
      const step = await context.with(ctx, () => generator.next());
      if (step.done) {
        finished = true;
        return step.value;
      }
      yield step.value;
    }
  } finally {
    // The consumer stopped early (client cancelled a stream): let the inner generator run its cleanup.
    if (!finished) await context.with(ctx, () => generator.return(undefined as R));
  }
}

export function serverTracingMiddleware(component: string): ServerMiddleware {
  return async function* traceServerCall<Request, Response>(
    call: ServerMiddlewareCall<Request, Response>,
    callContext: CallContext,
  ) {
    const parent = propagation.extract(context.active(), callContext.metadata, metadataGetter);
    const attributes = spanAttributes(call.method);
    const name = `${attributes['rpc.service']}/${attributes['rpc.method']}`;
    const span = tracer(component).startSpan(name, { kind: SpanKind.SERVER, attributes }, parent);
    try {
      // biome-ignore lint/suspicious/noConfusingVoidType: nice-grpc types a stream's return as void.
      const inner: AsyncGenerator<Response, Response | void, undefined> = call.next(call.request, callContext);
      const result = yield* bindToContext(trace.setSpan(parent, span), inner);
      span.setAttribute('rpc.grpc.status_code', Status.OK);
      span.end();
      return result;
    } catch (err) {
      endWithError(span, err);
      throw err;
    }
  };
}

export function clientTracingMiddleware(component: string): ClientMiddleware {
  return async function* traceClientCall<Request, Response>(
    call: ClientMiddlewareCall<Request, Response>,
    options: CallOptions,
  ) {
    const attributes = spanAttributes(call.method);
    const name = `${attributes['rpc.service']}/${attributes['rpc.method']}`;
    const span = tracer(component).startSpan(name, { kind: SpanKind.CLIENT, attributes });
    const ctx = trace.setSpan(context.active(), span);
    const metadata = new Metadata(options.metadata);
    propagation.inject(ctx, metadata, metadataSetter);
    try {
      // biome-ignore lint/suspicious/noConfusingVoidType: nice-grpc types a stream's return as void.
      const inner: AsyncGenerator<Response, Response | void, undefined> = call.next(call.request, {
        ...options,
        metadata,
      });
      const result = yield* bindToContext(ctx, inner);
      span.setAttribute('rpc.grpc.status_code', Status.OK);
      span.end();
      return result;
    } catch (err) {
      endWithError(span, err);
      throw err;
    }
  };
}
