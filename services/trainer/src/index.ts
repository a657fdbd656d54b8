// @tunemesh/trainer: start the trainer service or a trainer node in-process (tests, single-process deployments).
export * from './config.js';
export * from './node/node.js';
export * from './node-config.js';
export * from './service.js';
