// Typed configuration from environment variables. Each variable names the form it expects, so a bad value
// produces one line a person can act on ("PORT="abc" is invalid: expected a TCP port 0-65535"), and says what
// it does, so docs/configuration.md is generated from the schemas (scripts/config-reference.ts) and the
// description lives in one place, beside the name and default it explains.
import { z } from 'zod';
import { ConfigError } from './errors.js';

export interface EnvVar<T> {
  readonly name: string;
  /** What the variable controls, its unit and what its default means, for the configuration reference. */
  readonly description: string;
  /** Human-readable form, used in the error line. */
  readonly expected: string;
  /** Used when the variable is unset or empty; undefined makes the variable required. */
  readonly fallback: string | undefined;
  readonly schema: z.ZodType<T, string>;
}

export function envVar<T>(
  name: string,
  description: string,
  schema: z.ZodType<T, string>,
  expected: string,
  fallback?: string,
): EnvVar<T> {
  return { name, description, schema, expected, fallback };
}

export type ConfigSpec = Record<string, EnvVar<unknown>>;
export type ConfigOf<S extends ConfigSpec> = { [K in keyof S]: S[K] extends EnvVar<infer T> ? T : never };

/** Parses every variable of `spec` from `env`; throws ConfigError for the first bad one. */
export function loadConfig<S extends ConfigSpec>(spec: S, env: NodeJS.ProcessEnv = process.env): ConfigOf<S> {
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(spec)) {
    const given = env[v.name];
    const raw = given === undefined || given === '' ? v.fallback : given;
    if (raw === undefined) {
      throw new ConfigError(v.name, `configuration: ${v.name} is not set: expected ${v.expected}`);
    }
    const parsed = v.schema.safeParse(raw);
    if (!parsed.success) {
      throw new ConfigError(
        v.name,
        `configuration: ${v.name}=${JSON.stringify(raw)} is invalid: expected ${v.expected}`,
      );
    }
    out[key] = parsed.data;
  }
  return out as ConfigOf<S>;
}

// Shared variable shapes, so every service spells them the same way.

const portSchema = z.string().regex(/^\d+$/).transform(Number).pipe(z.number().int().min(0).max(65535));

export function portVar(name: string, fallback: number, description: string): EnvVar<number> {
  return envVar(name, description, portSchema, 'a TCP port number 0-65535 (0 picks a free one)', String(fallback));
}

export function natsUrlVar(fallback = 'nats://127.0.0.1:4222'): EnvVar<string[]> {
  const schema = z
    .string()
    .transform((s) => s.split(',').map((u) => u.trim()))
    .pipe(z.array(z.string().regex(/^(nats|tls|ws|wss):\/\/[^\s/]+(:\d+)?\/?$/)).min(1));
  return envVar(
    'NATS_URL',
    'The NATS server (with JetStream) that carries the mesh’s events and work queues; several URLs name the members of one cluster.',
    schema,
    'a NATS URL like nats://host:4222 (comma-separated for a cluster)',
    fallback,
  );
}

/** host:port of a gRPC peer. */
export function grpcAddressVar(name: string, fallback: string, description: string): EnvVar<string> {
  const schema = z.string().regex(/^[A-Za-z0-9._-]+:\d{1,5}$|^\[[0-9a-fA-F:]+\]:\d{1,5}$/);
  return envVar(name, description, schema, 'host:port, e.g. 127.0.0.1:50051', fallback);
}

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export function logLevelVar(fallback: LogLevel = 'info'): EnvVar<LogLevel> {
  return envVar(
    'LOG_LEVEL',
    'The least severe log line written (JSON lines on standard output); silent writes none.',
    z.enum(LOG_LEVELS),
    `one of ${LOG_LEVELS.join(', ')}`,
    fallback,
  );
}

export function hostVar(
  fallback = '0.0.0.0',
  description = 'The network interface the server listens on; 0.0.0.0 is every IPv4 interface, 127.0.0.1 this machine only.',
): EnvVar<string> {
  return envVar(
    'HOST',
    description,
    z.string().regex(/^[A-Za-z0-9.:_-]+$/),
    'an interface address like 0.0.0.0',
    fallback,
  );
}

export function durationMsVar(name: string, fallback: number, description: string): EnvVar<number> {
  const schema = z.string().regex(/^\d+$/).transform(Number).pipe(z.number().int().positive());
  return envVar(name, description, schema, 'a positive whole number of milliseconds', String(fallback));
}

export function booleanVar(name: string, fallback: boolean, description: string): EnvVar<boolean> {
  const schema = z.enum(['true', 'false', '1', '0']).transform((s) => s === 'true' || s === '1');
  return envVar(name, description, schema, 'true or false', String(fallback));
}

export const TRACES_EXPORTERS = ['none', 'console', 'otlp'] as const;
export type TracesExporter = (typeof TRACES_EXPORTERS)[number];

/** OTEL_TRACES_EXPORTER, the standard OpenTelemetry variable, restricted to what is installed. */
export function tracesExporterVar(): EnvVar<TracesExporter> {
  return envVar(
    'OTEL_TRACES_EXPORTER',
    'Where OpenTelemetry spans go: none records nothing, console prints them, otlp sends them to OTEL_EXPORTER_OTLP_ENDPOINT.',
    z.enum(TRACES_EXPORTERS),
    `one of ${TRACES_EXPORTERS.join(', ')}`,
    'none',
  );
}

/**
 * OTEL_EXPORTER_OTLP_ENDPOINT, the standard variable: the collector's OTLP/HTTP base URL; spans go to
 * `<it>/v1/traces`. Read only when OTEL_TRACES_EXPORTER=otlp.
 */
export function otlpEndpointVar(): EnvVar<string> {
  const schema = z
    .string()
    .regex(/^https?:\/\/[^\s/]+(\/[^\s]*)?$/)
    .transform((s) => s.replace(/\/+$/, ''));
  return envVar(
    'OTEL_EXPORTER_OTLP_ENDPOINT',
    'The OpenTelemetry collector’s OTLP/HTTP base URL; spans are posted to this URL followed by /v1/traces. Read only when OTEL_TRACES_EXPORTER is otlp.',
    schema,
    'an http(s) URL like http://otel-collector:4318',
    'http://127.0.0.1:4318',
  );
}

/** SHUTDOWN_TIMEOUT_MS, read by every server process (the gateway too). */
export function shutdownTimeoutVar(fallback = 10_000): EnvVar<number> {
  return durationMsVar(
    'SHUTDOWN_TIMEOUT_MS',
    fallback,
    'On SIGTERM or SIGINT, how long calls in progress may run to their end before they are cancelled and the process exits.',
  );
}

/**
 * <PREFIX>_DATABASE_URL and <PREFIX>_DATABASE_SCHEMA, the database of a service's tables (`tables` says which, e.g.
 * "(base models, jobs)"); a service spreads this into its spec beside its <PREFIX>_STORE_DIR.
 */
export function databaseConfigSpec(prefix: string, tables = '') {
  const owned = tables === '' ? '' : ` ${tables}`;
  return {
    databaseUrl: envVar(
      `${prefix}_DATABASE_URL`,
      `The database of the service’s tables${owned}: sqlite keeps them in a file in ${prefix}_STORE_DIR, a postgres:// URL in that PostgreSQL database.`,
      z.string().regex(/^(postgres(ql)?:\/\/.*|sqlite)$/),
      'a postgres:// URL, or "sqlite" for the embedded database',
      'sqlite',
    ),
    // The empty default is written ' ' because loadConfig treats '' as unset; the parser trims it away.
    databaseSchema: envVar(
      `${prefix}_DATABASE_SCHEMA`,
      'A PostgreSQL schema to keep the tables in, created when missing; empty uses the server’s default (its search_path). Ignored with sqlite.',
      z
        .string()
        .transform((s) => s.trim())
        .pipe(z.string().regex(/^([a-z_][a-z0-9_]*)?$/)),
      'a lowercase schema name',
      ' ',
    ),
  };
}

/** The variables every gRPC service reads; a service spreads this into its own spec. */
export function serviceConfigSpec(defaultPort: number) {
  return {
    host: hostVar(),
    port: portVar('PORT', defaultPort, 'The port of the service’s gRPC API and its gRPC health check.'),
    natsUrl: natsUrlVar(),
    logLevel: logLevelVar(),
    tracesExporter: tracesExporterVar(),
    otlpEndpoint: otlpEndpointVar(),
    shutdownTimeoutMs: shutdownTimeoutVar(),
  };
}
export type ServiceConfig = ConfigOf<ReturnType<typeof serviceConfigSpec>>;
