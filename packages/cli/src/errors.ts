// How the CLI reports failure: one line on stderr, `tunemesh: <message>`, and an exit code that says whose
// fault it was. 2: the command line was wrong. 1: an input (model, adapter, data, tokenizer) was bad or the
// run failed. A stack trace only with TUNEMESH_DEBUG=1.

import { CommanderError } from 'commander';

/** A command line that parses but asks for something impossible (two prompts, no prompt, ...). */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export const EXIT_OK = 0;
export const EXIT_INPUT = 1;
export const EXIT_USAGE = 2;

export function debugEnabled(): boolean {
  const v = process.env.TUNEMESH_DEBUG;
  return v !== undefined && v !== '' && v !== '0';
}

/** Collapses a message to one line (library messages sometimes carry newlines or a trailing period). */
export function oneLine(message: string): string {
  return message.replace(/\s*\n\s*/g, ' ').trim();
}

/** Prints the error and returns the exit code. Commander's own errors were already printed by outputError. */
export function reportError(err: unknown, write: (line: string) => void): number {
  if (err instanceof CommanderError) {
    if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help')
      return EXIT_OK;
    return EXIT_USAGE;
  }
  const debug = debugEnabled();
  if (err instanceof UsageError) {
    write(`tunemesh: ${oneLine(err.message)}\n`);
    return EXIT_USAGE;
  }
  if (err instanceof Error) {
    // Engine errors (typed, with a code) and system errors (ENOENT...) are input problems with a message
    // written for the user; anything else is our bug, which says so.
    const typed = 'code' in err && typeof (err as { code: unknown }).code === 'string';
    const prefix = typed ? '' : `internal error (${err.name}): `;
    write(
      `tunemesh: ${prefix}${oneLine(err.message)}${typed || debug ? '' : ' (set TUNEMESH_DEBUG=1 for a stack trace)'}\n`,
    );
    if (debug && err.stack) write(`${err.stack}\n`);
    return EXIT_INPUT;
  }
  write(`tunemesh: ${oneLine(String(err))}\n`);
  return EXIT_INPUT;
}
