// Proto enum values ↔ GraphQL enum names. ts-proto strips the proto prefix (DATASET_STATUS_READY → READY), so
// most names are shared; the few the public API spells differently are listed per enum.
import { GraphQLError } from 'graphql/index.js';

type ProtoEnum = Record<string, string | number>;

/** A proto enum value as its GraphQL name; UNSPECIFIED or an unknown number from a service is a contract break. */
export function toGraphQLEnum<N extends string>(
  enumObject: ProtoEnum,
  value: number,
  what: string,
  renames: Readonly<Record<string, N>> = {},
): N {
  const name = enumObject[value];
  if (typeof name !== 'string' || name === 'UNSPECIFIED' || name === 'UNRECOGNIZED') {
    throw new GraphQLError(`service returned an unknown ${what} (${value})`, { extensions: { code: 'INTERNAL' } });
  }
  return (renames[name] ?? name) as N;
}

/** Like toGraphQLEnum, but UNSPECIFIED (a field the service left unset) is null. */
export function toGraphQLEnumOrNull<N extends string>(
  enumObject: ProtoEnum,
  value: number,
  what: string,
  renames: Readonly<Record<string, N>> = {},
): N | null {
  return value === 0 ? null : toGraphQLEnum(enumObject, value, what, renames);
}

/** A GraphQL enum name (already validated by graphql-js) as the proto value. */
export function toProtoEnum(
  enumObject: ProtoEnum,
  name: string,
  renames: Readonly<Record<string, string>> = {},
): number {
  const protoName = Object.entries(renames).find(([, graphQLName]) => graphQLName === name)?.[0] ?? name;
  const value = enumObject[protoName];
  if (typeof value !== 'number') throw new Error(`no proto value for enum name ${name}`);
  return value;
}

export const DATASET_FORMAT_RENAMES = { PRETOKENIZED: 'TOKENIZED' } as const;
export const METRIC_RENAMES = { MACRO_F1: 'F1' } as const;
