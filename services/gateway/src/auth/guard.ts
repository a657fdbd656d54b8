// Wraps every root field (Query, Mutation, Subscription) with its role check, so no resolver can forget one:
// no or a bad key is UNAUTHENTICATED, a role below the field's is FORBIDDEN.
import { defaultFieldResolver, GraphQLError, type GraphQLFieldResolver, type GraphQLSchema } from 'graphql/index.js';
import type { AuthState } from './authenticate.js';
import { type Role, requiredRole, roleAllows } from './roles.js';

export function authorize(auth: AuthState, required: Role, field: string): void {
  if (auth.caller === null) {
    const message =
      auth.problem === 'missing'
        ? 'authentication required: send an API key as "Authorization: Bearer <key>"'
        : 'the API key is invalid or revoked';
    throw new GraphQLError(message, { extensions: { code: 'UNAUTHENTICATED' } });
  }
  if (!roleAllows(auth.caller.role, required)) {
    throw new GraphQLError(`${field} needs the ${required} role; this key has ${auth.caller.role}`, {
      extensions: { code: 'FORBIDDEN' },
    });
  }
}

export function guardRootFields(schema: GraphQLSchema): GraphQLSchema {
  const roots = [
    ['Query', schema.getQueryType()],
    ['Mutation', schema.getMutationType()],
    ['Subscription', schema.getSubscriptionType()],
  ] as const;
  for (const [rootName, type] of roots) {
    if (!type) continue;
    for (const field of Object.values(type.getFields())) {
      const required = requiredRole(rootName, field.name);
      const guard = <R>(inner: GraphQLFieldResolver<unknown, { auth: AuthState }, R>) =>
        ((parent, args, context, info) => {
          authorize(context.auth, required, `${rootName}.${field.name}`);
          return inner(parent, args, context, info);
        }) as GraphQLFieldResolver<unknown, { auth: AuthState }, R>;
      if (rootName === 'Subscription') {
        if (field.subscribe) field.subscribe = guard(field.subscribe);
      } else {
        field.resolve = guard(field.resolve ?? defaultFieldResolver);
      }
    }
  }
  return schema;
}
