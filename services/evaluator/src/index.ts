// @tunemesh/evaluator: start the evaluator service in-process (tests, single-process deployments).
export * from './config.js';
export * from './service.js';
