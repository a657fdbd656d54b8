// Structured JSON logs (pino) on stdout; one logger per process, children per component.
import { pino } from 'pino';
import type { LogLevel } from './config.js';

export type Logger = pino.Logger;

export function createLogger(service: string, level: LogLevel = 'info'): Logger {
  return pino({
    name: service,
    level,
    base: { service, pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  });
}

/** A logger that drops everything: for tests and in-process helpers that should stay quiet. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
