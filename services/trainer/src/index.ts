// @tunemesh/trainer: start the trainer service in-process (tests, single-process deployments).
export * from './config.js';
export * from './service.js';
