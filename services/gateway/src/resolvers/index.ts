// The resolver map of the whole schema, typed by the generated Resolvers (codegen from schema.graphql).
import type { Resolvers } from '../generated/resolvers-types.js';
import { JSONScalar, LongScalar, UploadScalar } from '../scalars.js';
import { Mutation } from './mutation.js';
import { Query } from './query.js';
import { Subscription } from './subscription.js';
import { typeResolvers } from './types.js';

export const resolvers: Resolvers = {
  Query,
  Mutation,
  Subscription,
  ...typeResolvers,
  Long: LongScalar,
  JSON: JSONScalar,
  Upload: UploadScalar,
};
