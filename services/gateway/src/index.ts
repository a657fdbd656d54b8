// @tunemesh/gateway: start the GraphQL gateway in-process (tests, single-process deployments).
export * from './config.js';
export type { GatewayContext } from './context.js';
export {
  ERROR_CODES,
  type ErrorCode,
  formatError,
  GRAPHQL_CODE_BY_GRPC_STATUS,
  graphQLErrorFromGrpc,
} from './errors.js';
export { GRAPHQL_PATH } from './http.js';
export { MAX_PAGE_SIZE } from './resolvers/connection.js';
export { SCHEMA_PATH } from './schema.js';
export * from './service.js';
export * from './ws-client.js';
