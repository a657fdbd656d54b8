// Custom scalars: Long (the services' 64-bit integers), JSON (method schemas), Upload (multipart files).
import { GraphQLError, GraphQLScalarType, Kind } from 'graphql/index.js';

function badLong(value: unknown): GraphQLError {
  return new GraphQLError(`Long must be a non-negative or negative integer within ±2^53, got ${String(value)}`, {
    extensions: { code: 'BAD_USER_INPUT' },
  });
}

/** Numbers go out as JSON numbers; a value past 2^53 would lose digits silently, so it is an error instead. */
export const LongScalar = new GraphQLScalarType<bigint, number>({
  name: 'Long',
  serialize(value) {
    const n = typeof value === 'bigint' ? Number(value) : value;
    if (typeof n !== 'number' || !Number.isSafeInteger(n))
      throw new GraphQLError(`Long out of range: ${String(value)}`);
    return n;
  },
  parseValue(value) {
    if (typeof value === 'number' && Number.isSafeInteger(value)) return BigInt(value);
    if (typeof value === 'string' && /^-?\d+$/.test(value)) return BigInt(value);
    throw badLong(value);
  },
  parseLiteral(ast) {
    if (ast.kind === Kind.INT || (ast.kind === Kind.STRING && /^-?\d+$/.test(ast.value))) return BigInt(ast.value);
    throw badLong(ast.kind === Kind.STRING ? ast.value : ast.kind);
  },
});

export const JSONScalar = new GraphQLScalarType<unknown, unknown>({
  name: 'JSON',
  serialize: (value) => value,
});

/** Accepted in the schema so clients can rely on the name; multipart requests are not parsed yet (see README). */
export const UploadScalar = new GraphQLScalarType<unknown, never>({
  name: 'Upload',
  serialize() {
    throw new GraphQLError('Upload is an input-only scalar');
  },
  parseValue(value) {
    return value;
  },
  parseLiteral() {
    throw new GraphQLError('Upload values come from a multipart request, not from the query text', {
      extensions: { code: 'BAD_USER_INPUT' },
    });
  },
});
