/** The durable pull consumer every trainer node shares on the training work queue. */
export const TRAINER_NODES_CONSUMER = 'trainer-nodes';
