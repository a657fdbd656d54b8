// A model path a caller names must lie inside a configured root both as written (no ".." escape) and after
// resolving symbolic links (no link leading out), so the service never reads a directory it was not given.

import { realpath, stat } from 'node:fs/promises';
import { isAbsolute, relative, resolve, sep } from 'node:path';
import { InvalidArgumentError, NotFoundError, PermissionDeniedError } from '@tunemesh/kit';

function within(root: string, path: string): boolean {
  const rel = relative(root, path);
  return rel === '' || (rel !== '..' && !rel.startsWith(`..${sep}`) && !isAbsolute(rel));
}

/** The real path of the directory `path` when it lies inside one of `roots`; typed errors name `field`. */
export async function modelDirInRoots(path: string, roots: readonly string[], field: string): Promise<string> {
  if (path === '') throw new InvalidArgumentError(`${field} is required`, { field });
  if (!isAbsolute(path)) throw new InvalidArgumentError(`${field} must be an absolute path`, { field });
  if (roots.length === 0) throw new PermissionDeniedError('no model roots are configured (TRAINER_MODEL_ROOTS)');
  const lexical = resolve(path);
  if (!roots.some((r) => within(resolve(r), lexical)))
    throw new PermissionDeniedError(`${field} ${JSON.stringify(path)} is outside the allowed model roots`);
  let real: string;
  try {
    real = await realpath(lexical);
  } catch {
    throw new NotFoundError(`${field} ${JSON.stringify(path)} does not exist`);
  }
  const realRoots = await Promise.all(roots.map((r) => realpath(r).catch(() => resolve(r))));
  if (!realRoots.some((r) => within(r, real)))
    throw new PermissionDeniedError(
      `${field} ${JSON.stringify(path)} leads outside the allowed model roots (symbolic link)`,
    );
  if (!(await stat(real)).isDirectory())
    throw new InvalidArgumentError(`${field} ${JSON.stringify(path)} is not a directory`, { field });
  return real;
}
