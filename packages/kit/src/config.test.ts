import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { envVar, loadConfig, natsUrlVar, portVar, serviceConfigSpec } from './config.js';
import { ConfigError } from './errors.js';

describe('loadConfig', () => {
  it('applies defaults and parses typed values', () => {
    const config = loadConfig(serviceConfigSpec(50051), {});
    expect(config).toMatchObject({
      port: 50051,
      natsUrl: ['nats://127.0.0.1:4222'],
      logLevel: 'info',
      host: '0.0.0.0',
    });
  });

  it('reads values from the environment', () => {
    const config = loadConfig(serviceConfigSpec(50051), {
      PORT: '6000',
      NATS_URL: 'nats://a:4222, nats://b:4222',
      LOG_LEVEL: 'debug',
    });
    expect(config.port).toBe(6000);
    expect(config.natsUrl).toEqual(['nats://a:4222', 'nats://b:4222']);
    expect(config.logLevel).toBe('debug');
  });

  it.each([
    ['PORT', 'abc', /PORT="abc" is invalid: expected a TCP port number/],
    ['PORT', '70000', /PORT="70000" is invalid/],
    ['NATS_URL', 'localhost:4222', /NATS_URL="localhost:4222" is invalid: expected a NATS URL/],
    ['LOG_LEVEL', 'loud', /LOG_LEVEL="loud" is invalid: expected one of fatal, error/],
    ['SHUTDOWN_TIMEOUT_MS', '-1', /SHUTDOWN_TIMEOUT_MS="-1" is invalid: expected a positive whole number/],
  ])('rejects %s=%s with one line naming the variable and the form', (name, value, message) => {
    let caught: unknown;
    try {
      loadConfig(serviceConfigSpec(50051), { [name]: value });
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    const err = caught as ConfigError;
    expect(err.variable).toBe(name);
    expect(err.exitCode).toBe(2);
    expect(err.message).toMatch(message);
    expect(err.message).not.toContain('\n');
  });

  it('names a required variable that is missing', () => {
    const spec = { token: envVar('API_TOKEN', 'A token for tests.', z.string().min(8), 'at least 8 characters') };
    expect(() => loadConfig(spec, {})).toThrow('configuration: API_TOKEN is not set: expected at least 8 characters');
  });

  it('treats an empty value as unset', () => {
    expect(
      loadConfig({ port: portVar('PORT', 1234, 'A port for tests.'), nats: natsUrlVar() }, { PORT: '' }).port,
    ).toBe(1234);
  });
});
