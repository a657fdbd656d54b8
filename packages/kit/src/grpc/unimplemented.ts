// A service whose RPCs are not built yet answers every one of them with UNIMPLEMENTED, naming the RPC and the
// issue that builds it: honest to callers, and the gateway maps it to NOT_IMPLEMENTED.
import { ServerError, type ServiceImplementation, Status, type TsProtoServiceDefinition } from 'nice-grpc';

export function unimplementedMessage(serviceFullName: string, methodName: string, plannedIn: string): string {
  return `${serviceFullName}/${methodName} is not implemented yet (planned in ${plannedIn})`;
}

/**
 * Implementation of `definition` in which every method fails with UNIMPLEMENTED. `overrides` supplies the
 * methods that are built; the rest keep failing.
 */
export function unimplementedService<D extends TsProtoServiceDefinition>(
  definition: D,
  plannedIn: string,
  overrides: Partial<ServiceImplementation<D>> = {},
): ServiceImplementation<D> {
  const impl: Record<string, unknown> = {};
  for (const [key, method] of Object.entries(definition.methods)) {
    const error = () =>
      new ServerError(Status.UNIMPLEMENTED, unimplementedMessage(definition.fullName, method.name, plannedIn));
    impl[key] = method.responseStream
      ? // biome-ignore lint/correctness/useYield: a stream that fails before its first message.
        async function* unimplementedStream() {
          throw error();
        }
      : async () => {
          throw error();
        };
  }
  // Built from the definition's own method table, so it has exactly the keys ServiceImplementation<D> requires.
  return { ...(impl as ServiceImplementation<D>), ...overrides };
}
