// Where a job's artefacts live in the artefact store, shared by the service and the trainer nodes:
//   <root>/jobs/<job id>/checkpoints/checkpoint-<step>/   the engine's checkpoints (adapter + resume state)
//   <root>/jobs/<job id>/adapter/                         the final adapter (PEFT format; a model dir for full)
//   <root>/jobs/<job id>/loss.svg                         the loss curve, rewritten at each checkpoint and the end

import { join } from 'node:path';

export interface JobArtefacts {
  readonly dir: string;
  readonly checkpoints: string;
  readonly adapter: string;
  readonly lossChart: string;
}

export function jobArtefacts(root: string, jobId: string): JobArtefacts {
  if (!/^[\w-]+$/.test(jobId)) throw new Error(`not a job id: ${JSON.stringify(jobId)}`);
  const dir = join(root, 'jobs', jobId);
  return {
    dir,
    checkpoints: join(dir, 'checkpoints'),
    adapter: join(dir, 'adapter'),
    lossChart: join(dir, 'loss.svg'),
  };
}

/** Checkpoint ids name the job and step, so node and service agree on them without asking each other. */
export const checkpointId = (jobId: string, step: number | bigint): string => `${jobId}-ckpt-${step}`;
