// Depth and estimated cost of an operation, computed from the document before execution. Cost: every field
// costs 1, multiplied by the sizes of the lists around it: a field with a `first` argument returns up to that
// many items (a variable counts as the maximum page size), another list field counts as LIST_ESTIMATE items.
// Introspection fields (__schema, __type) are left out: GRAPHQL_INTROSPECTION governs them.
import {
  type FieldNode,
  type FragmentDefinitionNode,
  type GraphQLField,
  type GraphQLNamedType,
  getNamedType,
  getNullableType,
  isInterfaceType,
  isListType,
  isObjectType,
  Kind,
  type SelectionSetNode,
  type ValidationContext,
} from 'graphql/index.js';
import { MAX_PAGE_SIZE } from '../resolvers/connection.js';

export const LIST_ESTIMATE = 10;

export interface QueryShape {
  depth: number;
  cost: number;
}

function fieldsOf(type: GraphQLNamedType | undefined): Record<string, GraphQLField<unknown, unknown>> {
  return isObjectType(type) || isInterfaceType(type) ? type.getFields() : {};
}

function listSize(
  parent: GraphQLNamedType | undefined,
  field: GraphQLField<unknown, unknown>,
  node: FieldNode,
): number {
  // A connection's edges are already counted by the `first` of the field that returned the connection.
  if (parent?.name.endsWith('Connection')) return 1;
  const first = node.arguments?.find((a) => a.name.value === 'first');
  if (first !== undefined)
    return first.value.kind === Kind.INT ? Math.max(0, Number(first.value.value)) : MAX_PAGE_SIZE;
  const firstDefault = field.args.find((a) => a.name === 'first')?.defaultValue;
  if (typeof firstDefault === 'number') return firstDefault;
  return isListType(getNullableType(field.type)) ? LIST_ESTIMATE : 1;
}

export function measure(
  context: Pick<ValidationContext, 'getFragment' | 'getSchema'>,
  type: GraphQLNamedType | undefined,
  selectionSet: SelectionSetNode,
  seen: ReadonlySet<string> = new Set(),
): QueryShape {
  let depth = 0;
  let cost = 0;
  for (const selection of selectionSet.selections) {
    let shape: QueryShape = { depth: 0, cost: 0 };
    if (selection.kind === Kind.FIELD) {
      const name = selection.name.value;
      if (name.startsWith('__')) continue;
      const field = fieldsOf(type)[name];
      if (field === undefined) continue; // unknown fields are reported by graphql-js's own rules
      const inner = selection.selectionSet
        ? measure(context, getNamedType(field.type), selection.selectionSet, seen)
        : { depth: 0, cost: 0 };
      shape = { depth: inner.depth + 1, cost: 1 + listSize(type, field, selection) * inner.cost };
    } else if (selection.kind === Kind.INLINE_FRAGMENT) {
      const condition = selection.typeCondition
        ? context.getSchema().getType(selection.typeCondition.name.value)
        : type;
      shape = measure(context, condition ?? undefined, selection.selectionSet, seen);
    } else {
      const name = selection.name.value;
      const fragment: FragmentDefinitionNode | null | undefined = seen.has(name) ? null : context.getFragment(name);
      if (fragment) {
        const condition = context.getSchema().getType(fragment.typeCondition.name.value) ?? undefined;
        shape = measure(context, condition, fragment.selectionSet, new Set([...seen, name]));
      }
    }
    depth = Math.max(depth, shape.depth);
    cost += shape.cost;
  }
  return { depth, cost };
}
