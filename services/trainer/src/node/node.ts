// A trainer node: pulls one job at a time from the TRAIN_WORK work queue, keeps its message in progress while
// training (working acks well inside the consumer's ack wait), and acknowledges it only when the job has ended.
// Stopping (SIGTERM) drains: the running job is released back to the queue (nak) for another node to resume
// from its last checkpoint. A heartbeat announces the node every few seconds.

import { cpus, hostname, totalmem } from 'node:os';
import { connectNats, createServiceClient, type Logger, openChannel } from '@tunemesh/kit';
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
  let current: string | undefined;
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
      capacity: 1,
      runningJobIds: current === undefined ? [] : [current],
      state: stopping.signal.aborted
        ? TrainerNodeState.DRAINING
        : current === undefined
          ? TrainerNodeState.IDLE
          : TrainerNodeState.BUSY,
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
  const loop = (async () => {
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
      current = item.jobId;
      beat();
      const working = setInterval(() => msg.working(), o.workingMs ?? 15_000);
      try {
        const outcome = await runJob(ctx, item, stopping.signal);
        o.logger.info({ jobId: item.jobId, node: id, outcome }, 'job handled');
        if (outcome === 'released') msg.nak();
        else await msg.ackAck();
      } catch (err) {
        // NATS or the store failed around the job (not the training itself): let another attempt take it.
        o.logger.error({ err, jobId: item.jobId }, 'job handling failed; releasing it');
        msg.nak(5_000);
      } finally {
        clearInterval(working);
        current = undefined;
        beat();
      }
    }
  })();

  let stopped: Promise<void> | undefined;
  return {
    id,
    running: () => (current === undefined ? [] : [current]),
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
