import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveInRoots } from './paths.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kit-paths-'));
  await mkdir(join(dir, 'real', 'data'), { recursive: true });
  await mkdir(join(dir, 'outside'));
  await writeFile(join(dir, 'real', 'data', 'a.jsonl'), '{}\n');
  await writeFile(join(dir, 'outside', 'secret.txt'), 'x');
  // The configured root is a symbolic link to the real folder (as a mounted or linked data folder often is).
  await symlink(join(dir, 'real'), join(dir, 'root'));
  await symlink(join(dir, 'outside'), join(dir, 'real', 'escape'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

const check = { field: 'path', kind: 'file' as const };

describe('resolveInRoots', () => {
  it('accepts a path inside a root, relative or absolute, as written or under the real root', async () => {
    const root = join(dir, 'root');
    const real = join(dir, 'real', 'data', 'a.jsonl');
    expect(await resolveInRoots('data/a.jsonl', [root], check)).toBe(real);
    expect(await resolveInRoots(join(root, 'data', 'a.jsonl'), [root], check)).toBe(real);
    expect(await resolveInRoots(real, [root], check)).toBe(real);
  });

  it('refuses .. escapes, symbolic links out, missing paths and the wrong kind, naming the field', async () => {
    const root = join(dir, 'root');
    await expect(resolveInRoots('../outside/secret.txt', [root], check)).rejects.toMatchObject({
      name: 'PermissionDeniedError',
      message: expect.stringMatching(/^path ".*" is outside the allowed roots$/),
    });
    await expect(resolveInRoots('escape/secret.txt', [root], check)).rejects.toMatchObject({
      name: 'PermissionDeniedError',
      message: expect.stringContaining('symbolic link'),
    });
    await expect(resolveInRoots('data/none.jsonl', [root], check)).rejects.toMatchObject({ name: 'NotFoundError' });
    await expect(resolveInRoots('data', [root], check)).rejects.toMatchObject({ name: 'InvalidArgumentError' });
    await expect(resolveInRoots('data/a.jsonl', [root], { ...check, allowRelative: false })).rejects.toMatchObject({
      name: 'InvalidArgumentError',
    });
    await expect(resolveInRoots('a', [], check)).rejects.toMatchObject({ name: 'PermissionDeniedError' });
  });
});
