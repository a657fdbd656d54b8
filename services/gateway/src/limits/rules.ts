// Validation rules run on every operation, HTTP and WebSocket alike: depth and cost limits, and introspection
// when it is turned off. A rejected operation never reaches a resolver (nor a service).
import {
  GraphQLError,
  NoSchemaIntrospectionCustomRule,
  type ValidationContext,
  type ValidationRule,
} from 'graphql/index.js';
import { measure } from './query-shape.js';

export interface QueryLimits {
  maxDepth: number;
  maxCost: number;
  introspection: boolean;
}

function shapeRule(limits: QueryLimits): ValidationRule {
  return (context: ValidationContext) => ({
    OperationDefinition(node) {
      const root =
        node.operation === 'query'
          ? context.getSchema().getQueryType()
          : node.operation === 'mutation'
            ? context.getSchema().getMutationType()
            : context.getSchema().getSubscriptionType();
      const shape = measure(context, root ?? undefined, node.selectionSet);
      const name = node.name?.value ?? 'the operation';
      if (shape.depth > limits.maxDepth) {
        context.reportError(
          new GraphQLError(`${name} is ${shape.depth} levels deep; the limit is ${limits.maxDepth}`, {
            nodes: [node],
            extensions: { code: 'BAD_USER_INPUT', reason: 'DEPTH_LIMIT', depth: shape.depth, limit: limits.maxDepth },
          }),
        );
      }
      if (shape.cost > limits.maxCost) {
        context.reportError(
          new GraphQLError(
            `${name} has an estimated cost of ${shape.cost}; the limit is ${limits.maxCost} (ask for smaller pages or fewer fields)`,
            {
              nodes: [node],
              extensions: { code: 'BAD_USER_INPUT', reason: 'COST_LIMIT', cost: shape.cost, limit: limits.maxCost },
            },
          ),
        );
      }
    },
  });
}

export function limitRules(limits: QueryLimits): ValidationRule[] {
  return [shapeRule(limits), ...(limits.introspection ? [] : [NoSchemaIntrospectionCustomRule])];
}
