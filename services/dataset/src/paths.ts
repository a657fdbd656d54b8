// Server-side paths a caller may name: only inside the configured roots, checked both as written (no ".."
// escape) and after resolving symbolic links (no link pointing out).

import { realpath, stat } from 'node:fs/promises';
import { isAbsolute, relative, resolve, sep } from 'node:path';
import { InvalidArgumentError, NotFoundError, PermissionDeniedError } from '@tunemesh/kit';

function inside(root: string, path: string): boolean {
  const rel = relative(root, path);
  return rel === '' || (!rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel));
}

/**
 * The real path of `path` (absolute, or relative to the first root) when it lies inside one of `roots`;
 * PERMISSION_DENIED otherwise, NOT_FOUND when it does not exist. `what` names the field in messages.
 */
export async function resolveInRoots(
  path: string,
  roots: readonly string[],
  what: string,
  kind: 'file' | 'dir' = 'file',
): Promise<string> {
  if (path === '') throw new InvalidArgumentError(`${what} is required`, { field: what });
  if (roots.length === 0)
    throw new PermissionDeniedError(`no ${what === 'path' ? 'data' : 'model'} roots are configured on this server`);
  const first = roots[0] as string;
  const lexical = resolve(first, path);
  if (!roots.some((r) => inside(resolve(r), lexical))) {
    throw new PermissionDeniedError(`${what} ${JSON.stringify(path)} is outside the allowed roots`);
  }
  let real: string;
  try {
    real = await realpath(lexical);
  } catch {
    throw new NotFoundError(`${what} ${JSON.stringify(path)} does not exist`);
  }
  const realRoots = await Promise.all(roots.map((r) => realpath(r).catch(() => resolve(r))));
  if (!realRoots.some((r) => inside(r, real))) {
    throw new PermissionDeniedError(`${what} ${JSON.stringify(path)} leads outside the allowed roots (symbolic link)`);
  }
  const s = await stat(real);
  if (kind === 'file' ? !s.isFile() : !s.isDirectory()) {
    throw new InvalidArgumentError(
      `${what} ${JSON.stringify(path)} is not a ${kind === 'file' ? 'file' : 'directory'}`,
      { field: what },
    );
  }
  return real;
}
