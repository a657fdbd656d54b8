// The CLI as a library: run it in-process (tests, embedding) with your own stdout/stderr.
export { buildProgram, type CliIo, runCli } from './cli.js';
export { EXIT_INPUT, EXIT_OK, EXIT_USAGE, UsageError } from './errors.js';
