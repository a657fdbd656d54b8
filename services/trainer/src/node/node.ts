// A trainer node: pulls one job at a time from the TRAIN_WORK work queue, keeps its message in progress while
// training (working acks well inside the consumer's ack wait), and acknowledges it only when the job has ended.
// Stopping (SIGTERM) drains: each running job checkpoints its current step and is released back to the queue
// (nak) for another node to resume from there. With capacity N the node trains up to N jobs at once. A
// heartbeat announces the node every few seconds.

import { cpus, hostname, totalmem } from 'node:os';
import { connectNats, createServiceClient, inMessageSpan, type Logger, openChannel } from '@tunemesh/kit';
import {
  DatasetServiceDefinition,
  Device,
  STREAMS,
  type TrainerNode,
  TrainerNodeHeartbeat,
  TrainerNodeState,
  TrainWorkItem,
  trainerHeartbeatSubject,
} from '@tunemesh/proto';
import { TRAINER_NODES_CONSUMER } from '../queue-names.js';
import { type JobContext, runJob } from './run-job.js';

export interface TrainerNodeOptions {
  natsUrl: string[];
  datasetAddr: string;
  /** The artefact store's folder (the service's TRAINER_STORE_DIR/artefacts). */
  artefactRoot: string;
  logger: Logger;
  nodeId?: string;
  device?: 'cpu' | 'cuda';
  heartbeatMs?: number;
  /** How often the in-progress message is touched; must stay well under the consumer's ack wait. */
  workingMs?: number;
  threads?: number;
  /** Jobs trained at the same time (each with its own sessions); default 1. */
  capacity?: number;
}

export interface TrainerNodeHandle {
  readonly id: string;
  /** Job ids running now. */
  running(): string[];
  /** Drains: releases a running job to the queue, stops pulling, says goodbye. */
  stop(): Promise<void>;
}

export async function startTrainerNode(o: TrainerNodeOptions): Promise<TrainerNodeHandle> {
  const id = o.nodeId ?? `${hostname()}-${process.pid}`;
  const nats = await connectNats({ servers: o.natsUrl, name: `tunemesh-trainer-node-${id}`, logger: o.logger });
  const js = nats.nc.jetstream();
  const channel = openChannel(o.datasetAddr);
  const datasets = createServiceClient(DatasetServiceDefinition, channel.channel, { component: 'trainer-node' });
  const ctx: JobContext = {
    nodeId: id,
    nc: nats.nc,
    js,
    jsm: nats.jsm,
    datasets,
    artefactRoot: o.artefactRoot,
    logger: o.logger,
    ...(o.threads !== undefined && { threads: o.threads }),
  };
  const stopping = new AbortController();
  const capacity = o.capacity ?? 1;
  if (!Number.isInteger(capacity) || capacity < 1)
    throw new Error(`trainer node capacity must be a whole number ≥ 1, got ${capacity}`);
  const current = new Set<string>();
  const startedAt = new Date();
  const heartbeatMs = o.heartbeatMs ?? 5_000;
  const myDevice = o.device === 'cuda' ? Device.CUDA : Device.CPU;
  const beat = () => {
    const node: TrainerNode = {
      id,
      hostname: hostname(),
      device: myDevice,
      deviceName: o.device === 'cuda' ? 'cuda' : `cpu: ${cpus().length} cores`,
      deviceMemoryBytes: BigInt(totalmem()),
      capacity,
      runningJobIds: [...current],
      state: stopping.signal.aborted
        ? TrainerNodeState.DRAINING
        : // BUSY is "as many jobs as its capacity"; with a free slot the node is still waiting for work.
          current.size >= capacity
          ? TrainerNodeState.BUSY
          : TrainerNodeState.IDLE,
      version: '0.1.0',
      startedAt,
      lastHeartbeatAt: new Date(),
    };
    nats.nc.publish(
      trainerHeartbeatSubject(id),
      TrainerNodeHeartbeat.encode({ node, intervalSeconds: heartbeatMs / 1000 }).finish(),
    );
  };
  beat();
  const heartbeat = setInterval(beat, heartbeatMs);

  const consumer = await js.consumers.get(STREAMS.trainWork.name, TRAINER_NODES_CONSUMER);
  // One pull loop per slot: each holds at most one job, so the node never takes more than its capacity.
  const worker = async () => {
    while (!stopping.signal.aborted) {
      let msg: Awaited<ReturnType<typeof consumer.next>>;
      try {
        msg = await consumer.next({ expires: 2_000 });
      } catch (err) {
        if (stopping.signal.aborted) break;
        o.logger.warn({ err }, 'pull from the work queue failed; retrying');
        await new Promise((r) => setTimeout(r, 1_000));
        continue;
      }
      if (msg === null) continue;
      const item = TrainWorkItem.decode(msg.data);
      if (item.device !== Device.UNSPECIFIED && item.device !== myDevice) {
        // Another node's job: back to the queue, after a pause so this node does not spin on it.
        msg.nak(5_000);
        continue;
      }
      o.logger.info({ jobId: item.jobId, node: id, delivery: msg.info.deliveryCount }, 'job pulled');
      current.add(item.jobId);
      beat();
      const working = setInterval(() => msg.working(), o.workingMs ?? 15_000);
      try {
        // In the trace of the create call that queued it (its context rides in the work item's headers).
        const outcome = await inMessageSpan(msg, `train ${item.jobId}`, 'trainer-node', async (span) => {
          span.setAttributes({ 'tunemesh.job.id': item.jobId, 'tunemesh.node.id': id });
          const o = await runJob(ctx, item, stopping.signal);
          span.setAttribute('tunemesh.job.outcome', o);
          return o;
        });
        o.logger.info({ jobId: item.jobId, node: id, outcome }, 'job handled');
        if (outcome === 'released') msg.nak();
        else await msg.ackAck();
      } catch (err) {
        // NATS or the store failed around the job (not the training itself): let another attempt take it.
        o.logger.error({ err, jobId: item.jobId }, 'job handling failed; releasing it');
        msg.nak(5_000);
      } finally {
        clearInterval(working);
        current.delete(item.jobId);
        beat();
      }
    }
  };
  const loop = Promise.all(Array.from({ length: capacity }, worker));

  let stopped: Promise<void> | undefined;
  return {
    id,
    running: () => [...current],
    stop() {
      stopped ??= (async () => {
        stopping.abort();
        beat();
        await loop;
        clearInterval(heartbeat);
        channel.close();
        await nats.close();
      })();
      return stopped;
    },
  };
}
