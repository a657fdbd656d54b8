// nice-grpc names services need beside the kit, so that they depend on one gRPC stack through the kit.
export {
  type CallContext,
  type Channel,
  ClientError,
  Metadata,
  ServerError,
  type ServiceImplementation,
  Status,
} from 'nice-grpc';
