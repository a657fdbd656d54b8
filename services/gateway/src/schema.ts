// One executable schema for both transports (HTTP through Apollo, WebSocket through graphql-ws): the SDL file
// plus the resolver map, attached field by field.
import { readFileSync } from 'node:fs';
// graphql 16 ships CommonJS (index.js) and ESM (index.mjs) without an exports map: Node always loads index.js,
// but Vite (tests) would pick index.mjs, and Apollo would then see a schema "from another realm". Naming the
// file keeps one instance everywhere.
import { buildSchema, type GraphQLSchema, isObjectType } from 'graphql/index.js';
import type { ResolverMap } from './resolvers.js';

// src/schema.graphql, found from src/ (tests, tsx) and from dist/ (the build) alike: both sit in the package root.
export const SCHEMA_PATH = new URL('../src/schema.graphql', import.meta.url);

export function loadTypeDefs(): string {
  return readFileSync(SCHEMA_PATH, 'utf8');
}

export function buildExecutableSchema(typeDefs: string, resolvers: ResolverMap): GraphQLSchema {
  const schema = buildSchema(typeDefs);
  for (const [typeName, fields] of Object.entries(resolvers)) {
    const type = schema.getType(typeName);
    if (!isObjectType(type)) throw new Error(`resolvers name type ${typeName}, which the schema lacks`);
    const schemaFields = type.getFields();
    for (const [fieldName, resolve] of Object.entries(fields)) {
      const field = schemaFields[fieldName];
      if (field === undefined) throw new Error(`resolvers name ${typeName}.${fieldName}, which the schema lacks`);
      field.resolve = resolve as typeof field.resolve;
    }
  }
  return schema;
}
