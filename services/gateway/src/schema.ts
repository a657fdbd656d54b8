// One executable schema for both transports (HTTP through Apollo, WebSocket through graphql-ws): the SDL file
// plus the resolver map, attached field by field, with the custom scalars' functions copied onto the SDL's.
import { readFileSync } from 'node:fs';
// graphql 16 ships CommonJS (index.js) and ESM (index.mjs) without an exports map: Node always loads index.js,
// but Vite (tests) would pick index.mjs, and Apollo would then see a schema "from another realm". Naming the
// file keeps one instance everywhere.
import {
  buildSchema,
  type GraphQLFieldResolver,
  GraphQLScalarType,
  type GraphQLSchema,
  isObjectType,
  isScalarType,
} from 'graphql/index.js';

// src/schema.graphql, found from src/ (tests, tsx) and from dist/ (the build) alike: both sit in the package root.
export const SCHEMA_PATH = new URL('../src/schema.graphql', import.meta.url);

export function loadTypeDefs(): string {
  return readFileSync(SCHEMA_PATH, 'utf8');
}

type AnyResolver = GraphQLFieldResolver<unknown, unknown>;
type FieldResolverEntry = AnyResolver | { subscribe?: AnyResolver; resolve?: AnyResolver };

/** The generated Resolvers type is structurally this: types to fields, or a scalar type. */
export type ResolverMapLike = object;

export function buildExecutableSchema(typeDefs: string, resolvers: ResolverMapLike): GraphQLSchema {
  const schema = buildSchema(typeDefs);
  for (const [typeName, entry] of Object.entries(resolvers as Record<string, unknown>)) {
    const type = schema.getType(typeName);
    if (entry instanceof GraphQLScalarType) {
      if (!isScalarType(type)) throw new Error(`resolvers define scalar ${typeName}, which the schema lacks`);
      type.serialize = entry.serialize;
      type.parseValue = entry.parseValue;
      type.parseLiteral = entry.parseLiteral;
      continue;
    }
    if (!isObjectType(type)) throw new Error(`resolvers name type ${typeName}, which the schema lacks`);
    const schemaFields = type.getFields();
    for (const [fieldName, resolver] of Object.entries(entry as Record<string, FieldResolverEntry>)) {
      const field = schemaFields[fieldName];
      if (field === undefined) throw new Error(`resolvers name ${typeName}.${fieldName}, which the schema lacks`);
      if (typeof resolver === 'function') {
        field.resolve = resolver;
      } else {
        if (resolver.subscribe) field.subscribe = resolver.subscribe;
        if (resolver.resolve) field.resolve = resolver.resolve;
      }
    }
  }
  return schema;
}
