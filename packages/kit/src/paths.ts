// Server-side paths a caller may name: only inside the configured roots, checked both as written (no ".."
// escape) and after resolving symbolic links (no link leading out), so a service never reads what it was not
// given. The "as written" check also accepts a root's resolved form: a caller that already resolved a path
// (another service passing on a real path) names it under the real root, not the symbolic one configured.

import { realpath, stat } from 'node:fs/promises';
import { isAbsolute, relative, resolve, sep } from 'node:path';
import { InvalidArgumentError, NotFoundError, PermissionDeniedError } from './errors.js';

export function isInside(root: string, path: string): boolean {
  const rel = relative(root, path);
  return rel === '' || (rel !== '..' && !rel.startsWith(`..${sep}`) && !isAbsolute(rel));
}

export interface RootsCheck {
  /** The request field, named in errors. */
  field: string;
  /** 'file' or 'dir': what the path must be. */
  kind: 'file' | 'dir';
  /** How errors call the roots, e.g. 'allowed roots' or 'allowed model roots'. */
  rootsName?: string;
  /** Message when no roots are configured. */
  noRootsMessage?: string;
  /** Relative paths resolve against the first root (default); with false they are refused. */
  allowRelative?: boolean;
}

/** The real path of `path` when it lies inside one of `roots`; PERMISSION_DENIED, NOT_FOUND or INVALID_ARGUMENT. */
export async function resolveInRoots(path: string, roots: readonly string[], check: RootsCheck): Promise<string> {
  const { field, kind } = check;
  const rootsName = check.rootsName ?? 'allowed roots';
  if (path === '') throw new InvalidArgumentError(`${field} is required`, { field });
  if (check.allowRelative === false && !isAbsolute(path))
    throw new InvalidArgumentError(`${field} must be an absolute path`, { field });
  if (roots.length === 0) throw new PermissionDeniedError(check.noRootsMessage ?? `no ${rootsName} are configured`);
  const lexical = resolve(roots[0] as string, path);
  const realRoots = await Promise.all(roots.map((r) => realpath(r).catch(() => resolve(r))));
  if (!roots.some((r) => isInside(resolve(r), lexical)) && !realRoots.some((r) => isInside(r, lexical))) {
    throw new PermissionDeniedError(`${field} ${JSON.stringify(path)} is outside the ${rootsName}`);
  }
  let real: string;
  try {
    real = await realpath(lexical);
  } catch {
    throw new NotFoundError(`${field} ${JSON.stringify(path)} does not exist`);
  }
  if (!realRoots.some((r) => isInside(r, real))) {
    throw new PermissionDeniedError(`${field} ${JSON.stringify(path)} leads outside the ${rootsName} (symbolic link)`);
  }
  const s = await stat(real);
  if (kind === 'file' ? !s.isFile() : !s.isDirectory()) {
    throw new InvalidArgumentError(
      `${field} ${JSON.stringify(path)} is not a ${kind === 'file' ? 'file' : 'directory'}`,
      {
        field,
      },
    );
  }
  return real;
}
