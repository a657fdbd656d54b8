// Paths a caller names (data files, model directories for tokenisation) must lie inside the configured roots;
// the check itself is the kit's, shared with the trainer.

import { resolveInRoots as resolveIn } from '@tunemesh/kit';

/**
 * The real path of `path` (absolute, or relative to the first root) when it lies inside one of `roots`;
 * PERMISSION_DENIED otherwise, NOT_FOUND when it does not exist. `what` names the field in messages.
 */
export function resolveInRoots(
  path: string,
  roots: readonly string[],
  what: string,
  kind: 'file' | 'dir' = 'file',
): Promise<string> {
  return resolveIn(path, roots, {
    field: what,
    kind,
    noRootsMessage: `no ${what === 'path' ? 'data' : 'model'} roots are configured on this server`,
  });
}
