// The JetStream streams of the mesh, declared by the services that use them. Names are part of the deployment
// contract (dashboards and operators see them), so they live here once.
import { AckPolicy, DiscardPolicy, type JetStreamManager, RetentionPolicy, StorageType } from 'nats';
import { type ConsumerDeclaration, ensureConsumer, ensureStream, type StreamDeclaration } from './streams.js';

const DAY_NS = 24 * 60 * 60 * 1_000_000_000;

/**
 * TUNEMESH_EVENTS: every domain event (dataset.*, job.*, eval.*), kept 30 days so a late subscriber (a gateway
 * subscription resuming from a sequence) can replay a job's progress history.
 */
export const EVENTS_STREAM: StreamDeclaration = {
  name: 'TUNEMESH_EVENTS',
  subjects: ['dataset.>', 'job.>', 'eval.>'],
  retention: RetentionPolicy.Limits,
  storage: StorageType.File,
  discard: DiscardPolicy.Old,
  max_age: 30 * DAY_NS,
  duplicate_window: 2 * 60 * 1_000_000_000,
};

/**
 * TUNEMESH_TRAIN_WORK: the durable training work queue (subject work.train.<jobId>); each message is removed once
 * one trainer node acknowledges it.
 */
export const TRAIN_WORK_STREAM: StreamDeclaration = {
  name: 'TUNEMESH_TRAIN_WORK',
  subjects: ['work.train.>'],
  retention: RetentionPolicy.Workqueue,
  storage: StorageType.File,
  discard: DiscardPolicy.Old,
  duplicate_window: 2 * 60 * 1_000_000_000,
};

/** The trainer nodes' shared pull consumer: one job at a time per node, redelivered if a node dies mid-job. */
export const TRAINERS_CONSUMER: ConsumerDeclaration = {
  durable_name: 'trainers',
  ack_policy: AckPolicy.Explicit,
  // A training job keeps its message "in progress" (working acks) while it runs; 2 minutes of silence means the
  // node is gone and another one may take the job.
  ack_wait: 2 * 60 * 1_000_000_000,
  max_deliver: -1,
  filter_subject: 'work.train.>',
};

export async function declareEventsStream(jsm: JetStreamManager): Promise<void> {
  await ensureStream(jsm, EVENTS_STREAM);
}

export async function declareTrainWorkQueue(jsm: JetStreamManager): Promise<void> {
  await ensureStream(jsm, TRAIN_WORK_STREAM);
  await ensureConsumer(jsm, TRAIN_WORK_STREAM.name, TRAINERS_CONSUMER);
}
