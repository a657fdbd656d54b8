// The artefact store: a local folder holding each dataset's raw source and normalised examples, in a folder
// named by the content hash. Imports write into a staging folder and rename it into place only when
// complete, so a crash or an interrupted upload never leaves a half-written dataset folder behind.

import { randomUUID } from 'node:crypto';
import { mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';

export class ArtefactStore {
  private readonly stagingRoot: string;

  constructor(readonly root: string) {
    this.stagingRoot = join(root, '.staging');
  }

  /** Creates the folders and removes what interrupted imports left in staging. */
  async init(): Promise<void> {
    await rm(this.stagingRoot, { recursive: true, force: true });
    await mkdir(this.stagingRoot, { recursive: true });
  }

  /** A fresh, empty staging folder for one import. */
  async stage(): Promise<string> {
    const dir = join(this.stagingRoot, randomUUID());
    await mkdir(dir);
    return dir;
  }

  /** Moves a complete staging folder to the dataset's folder (replacing a stale one from a crashed import). */
  async commit(staging: string, sha256: string): Promise<string> {
    const dir = this.dir(sha256);
    await rm(dir, { recursive: true, force: true });
    await rename(staging, dir);
    return dir;
  }

  async discard(staging: string): Promise<void> {
    await rm(staging, { recursive: true, force: true });
  }

  dir(sha256: string): string {
    if (!/^[0-9a-f]{64}$/.test(sha256)) throw new Error(`not a sha256: ${sha256}`);
    return join(this.root, sha256);
  }

  /** Removes a dataset's folder; returns the bytes freed (0 when it was absent). */
  async remove(sha256: string): Promise<number> {
    const dir = this.dir(sha256);
    const bytes = await folderBytes(dir);
    await rm(dir, { recursive: true, force: true });
    return bytes;
  }
}

async function folderBytes(dir: string): Promise<number> {
  let entries: string[];
  try {
    entries = await readdir(dir);
  } catch {
    return 0;
  }
  let total = 0;
  for (const name of entries) {
    const s = await stat(join(dir, name));
    total += s.isDirectory() ? await folderBytes(join(dir, name)) : s.size;
  }
  return total;
}
