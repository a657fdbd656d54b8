// Graceful shutdown for long calls: streaming calls (and any call that asks with `abortOnTerminate`, the hook
// nice-grpc-server-health's Watch uses) get a signal that also aborts when the server shuts down, so async
// generators honouring context.signal end instead of holding shutdown open. Unary calls are left to finish.
import { type CallContext, ServerError, type ServerMiddleware, Status } from 'nice-grpc';

export interface TerminatorContext {
  /** Opt this call in to being aborted when the server shuts down (streams are opted in already). */
  abortOnTerminate(): void;
}

export interface Terminator {
  middleware: ServerMiddleware<TerminatorContext>;
  /** Refuses new calls and aborts the opted-in ones. */
  terminate(): void;
  /** Aborts every call in flight: the last step when a shutdown timeout passes. */
  abortAll(): void;
  readonly activeCalls: number;
}

interface ActiveCall {
  controller: AbortController;
  onTerminate: boolean;
}

export function createTerminator(): Terminator {
  const active = new Set<ActiveCall>();
  let terminated = false;
  const shutdownReason = () => new ServerError(Status.UNAVAILABLE, 'server is shutting down');

  const middleware: Terminator['middleware'] = async function* terminable(call, context: CallContext) {
    if (terminated) throw shutdownReason();
    const entry: ActiveCall = { controller: new AbortController(), onTerminate: call.responseStream };
    const onCallAbort = () => entry.controller.abort(context.signal.reason);
    context.signal.addEventListener('abort', onCallAbort, { once: true });
    active.add(entry);
    try {
      const abortOnTerminate = () => {
        entry.onTerminate = true;
        if (terminated) entry.controller.abort(shutdownReason());
      };
      return yield* call.next(call.request, { ...context, signal: entry.controller.signal, abortOnTerminate });
    } finally {
      active.delete(entry);
      context.signal.removeEventListener('abort', onCallAbort);
    }
  };

  return {
    middleware,
    terminate() {
      terminated = true;
      for (const entry of active) if (entry.onTerminate) entry.controller.abort(shutdownReason());
    },
    abortAll() {
      terminated = true;
      for (const entry of active) entry.controller.abort(shutdownReason());
    },
    get activeCalls() {
      return active.size;
    },
  };
}
