// ArtifactRef of a directory in the artefact store: its total size, and for final artefacts a SHA-256 over the
// sorted file names and contents, so a consumer can tell two adapters apart without reading them.

import { createHash } from 'node:crypto';
import { readdirSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import type { ArtifactRef } from '@tunemesh/proto';

function files(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...files(p));
    else if (e.isFile()) out.push(p);
  }
  return out.sort();
}

/** Size only: synchronous and cheap, for the training loop's checkpoint callback. */
export function sizedRef(dir: string): ArtifactRef {
  let size = 0;
  for (const f of files(dir)) size += statSync(f).size;
  return { path: dir, sizeBytes: BigInt(size), sha256: '' };
}

/** Size and content hash, for the final adapter. */
export async function hashedRef(dir: string): Promise<ArtifactRef> {
  const h = createHash('sha256');
  let size = 0;
  for (const f of files(dir)) {
    const bytes = await readFile(f);
    size += bytes.length;
    h.update(`${relative(dir, f)}\n${bytes.length}\n`);
    h.update(bytes);
  }
  return { path: dir, sizeBytes: BigInt(size), sha256: h.digest('hex') };
}
