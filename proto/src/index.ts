// @tunemesh/proto: the generated contracts (never edited by hand: change proto/tunemesh/v1/*.proto and run
// `make proto`) plus the NATS subject names and job-event framing that go with them.
export * from './gen/google/protobuf/timestamp.js';
export * from './gen/tunemesh/v1/common.js';
export * from './gen/tunemesh/v1/dataset.js';
export * from './gen/tunemesh/v1/evaluator.js';
export * from './gen/tunemesh/v1/events.js';
export * from './gen/tunemesh/v1/job.js';
export * from './gen/tunemesh/v1/model.js';
// Each service file declares this same helper type; naming one resolves the ambiguity of the star exports.
export type { ServerStreamingMethodResult } from './gen/tunemesh/v1/trainer.js';
export * from './gen/tunemesh/v1/trainer.js';
export * from './job-events.js';
export * from './subjects.js';
