// A model path a caller names must lie inside a configured root (the kit's check, shared with the dataset
// service): no ".." escape, no symbolic link leading out.

import { resolveInRoots } from '@tunemesh/kit';

/** The real path of the directory `path` when it lies inside one of `roots`; typed errors name `field`. */
export function modelDirInRoots(path: string, roots: readonly string[], field: string): Promise<string> {
  return resolveInRoots(path, roots, {
    field,
    kind: 'dir',
    rootsName: 'allowed model roots',
    noRootsMessage: 'no model roots are configured (TRAINER_MODEL_ROOTS)',
    allowRelative: false,
  });
}
