// The trainer service registers base models and gives them ids ("bm-…"); clients of the mesh name base models
// by those ids. The evaluator resolves such an id to its directory through the trainer, and reports the
// trainer's id for any directory the trainer has registered, so the leaderboard's base_model_id and the
// gateway's baseModels agree. When the trainer cannot be asked, paths relative to the model roots still work.
// The trainer also knows each job's base model, which a full fine-tuning result (a whole model directory that
// names no base) needs: the leaderboard groups it with its base's baseline and the dataset service tokenises
// with the base's tokenizer.
import { realpath } from 'node:fs/promises';
import {
  ClientError,
  createServiceClient,
  type GrpcChannel,
  openChannel,
  Status,
  UnavailableError,
} from '@tunemesh/kit';
import { TrainerServiceDefinition } from '@tunemesh/proto';

export interface BaseModelRegistry {
  /** The registered model's directory; undefined when the trainer does not know the id or cannot be asked. */
  pathOf(id: string): Promise<string | undefined>;
  /** The trainer's id of the model registered at this (real) directory, if any. */
  idOf(realDir: string): Promise<string | undefined>;
  /**
   * The base model id of a job as the trainer recorded it; undefined when the trainer does not know the job.
   * Throws UnavailableError when the trainer cannot be asked (unlike the base model lookups, nothing else knows).
   */
  jobBaseModelId(jobId: string): Promise<string | undefined>;
  close(): void;
}

interface Registered {
  readonly id: string;
  readonly path: string;
  readonly realPath: string;
}

const LIST_PAGE = 500;
/**
 * How long one listing (or one failure to list) is reused. Registrations are rare and an evaluation resolves
 * its models several times; a trainer that is down then costs one slow call per period, not one per lookup.
 */
const TTL_MS = 5_000;

export function trainerRegistry(trainerAddress: string): BaseModelRegistry {
  const channel: GrpcChannel = openChannel(trainerAddress);
  const client = createServiceClient(TrainerServiceDefinition, channel.channel, {
    component: 'evaluator',
    defaultDeadlineMs: 2_000,
    retryMaxAttempts: 1,
  });
  let cached: { at: number; models: Promise<Registered[]> } | undefined;
  let reachable = false;

  async function list(): Promise<Registered[]> {
    const out: Registered[] = [];
    let pageToken = '';
    try {
      do {
        const res = await client.listBaseModels({
          page: { pageSize: LIST_PAGE, pageToken },
          architecture: '',
          ids: [],
        });
        for (const m of res.baseModels) {
          out.push({ id: m.id, path: m.path, realPath: await realpath(m.path).catch(() => m.path) });
        }
        pageToken = res.page?.nextPageToken ?? '';
      } while (pageToken !== '');
    } catch (err) {
      // Unreachable or failing trainer: names by path still work; the next period asks again.
      reachable = false;
      if (err instanceof ClientError) return [];
      throw err;
    }
    reachable = true;
    return out;
  }

  function models(): Promise<Registered[]> {
    const now = Date.now();
    if (cached === undefined || now - cached.at > TTL_MS) cached = { at: now, models: list() };
    return cached.models;
  }

  /** A second look for an id the listing lacks, unless the trainer is down or was asked within the last second. */
  async function fresh(): Promise<Registered[]> {
    if (!reachable || (cached !== undefined && Date.now() - cached.at < 1_000)) return models();
    cached = undefined;
    return models();
  }

  return {
    async pathOf(id) {
      // A model registered a moment ago is not in an older listing: look again once before giving up.
      const hit = (await models()).find((m) => m.id === id) ?? (await fresh()).find((m) => m.id === id);
      return hit?.path;
    },
    async idOf(realDir) {
      return (await models()).find((m) => m.realPath === realDir)?.id;
    },
    async jobBaseModelId(jobId) {
      try {
        return (await client.getFineTuneJob({ id: jobId })).job?.baseModelId || undefined;
      } catch (err) {
        if (err instanceof ClientError && err.code === Status.NOT_FOUND) return undefined;
        if (err instanceof ClientError) {
          throw new UnavailableError(
            `the trainer service (${trainerAddress}) cannot be asked for job ${jobId}'s base model: ${err.details}`,
          );
        }
        throw err;
      }
    },
    close: () => channel.close(),
  };
}
