// Idempotent JetStream declarations: add when missing, update when present, so every service can declare the
// streams it relies on at start, in any order, on every restart.
import {
  type ConsumerConfig,
  type ConsumerInfo,
  type JetStreamManager,
  NatsError,
  type StreamConfig,
  type StreamInfo,
} from 'nats';

// JetStream API error codes (server's errors.json).
const STREAM_NOT_FOUND = 10059;
const STREAM_NAME_IN_USE = 10058;
const CONSUMER_NOT_FOUND = 10014;

function apiErrorCode(err: unknown): number | undefined {
  return err instanceof NatsError ? err.api_error?.err_code : undefined;
}

export type StreamDeclaration = Partial<StreamConfig> & Pick<StreamConfig, 'name' | 'subjects'>;

export async function ensureStream(jsm: JetStreamManager, config: StreamDeclaration): Promise<StreamInfo> {
  try {
    await jsm.streams.info(config.name);
  } catch (err) {
    if (apiErrorCode(err) !== STREAM_NOT_FOUND) throw err;
    try {
      return await jsm.streams.add(config);
    } catch (addErr) {
      // Another process declared it between our lookup and add: fall through to update.
      if (apiErrorCode(addErr) !== STREAM_NAME_IN_USE) throw addErr;
    }
  }
  return jsm.streams.update(config.name, config);
}

export type ConsumerDeclaration = Partial<ConsumerConfig> & { durable_name: string };

export async function ensureConsumer(
  jsm: JetStreamManager,
  stream: string,
  config: ConsumerDeclaration,
): Promise<ConsumerInfo> {
  try {
    await jsm.consumers.info(stream, config.durable_name);
  } catch (err) {
    if (apiErrorCode(err) !== CONSUMER_NOT_FOUND) throw err;
    // Consumer create is itself idempotent for an identical config, so a concurrent add is harmless.
    return jsm.consumers.add(stream, config);
  }
  return jsm.consumers.update(stream, config.durable_name, config);
}
