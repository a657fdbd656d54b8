// Getting bytes into a staging folder: a copy of a server-side file, or a client-streamed upload. Both hash
// while writing and hold one chunk in memory at a time; an upload over the limit or cut off leaves nothing.

import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import { basename, join } from 'node:path';
import { CancelledError, InvalidArgumentError, ResourceExhaustedError } from '@tunemesh/kit';
import type { ArtefactStore } from '../store/artefacts.js';
import type { StagedFile } from './importer.js';
import { ARTEFACTS } from './importer.js';

class HashingWriter {
  private readonly hash = createHash('sha256');
  private readonly out: WriteStream;
  size = 0;

  constructor(readonly path: string) {
    this.out = createWriteStream(path);
    // Kept, not thrown from an event: a write pending when the upload is refused fails after destroy().
    this.out.on('error', (err) => {
      this.error ??= err;
    });
  }

  private error: Error | undefined;

  async write(chunk: Uint8Array): Promise<void> {
    if (this.error !== undefined) throw this.error;
    this.hash.update(chunk);
    this.size += chunk.length;
    if (!this.out.write(chunk)) {
      await new Promise<void>((resolve) => {
        const done = () => {
          this.out.off('drain', done);
          this.out.off('error', done);
          resolve();
        };
        this.out.on('drain', done);
        this.out.on('error', done);
      });
    }
  }

  async close(name: string): Promise<StagedFile> {
    await new Promise<void>((resolve, reject) => this.out.end((err?: Error | null) => (err ? reject(err) : resolve())));
    return { path: this.path, name, sha256: this.hash.digest('hex'), size: this.size };
  }

  destroy(): void {
    this.out.destroy();
  }
}

/** Copies a server-side file (already checked against the data roots) into staging. */
export async function stageCopy(staging: string, from: string, target: string, maxBytes: number): Promise<StagedFile> {
  const w = new HashingWriter(join(staging, target));
  try {
    for await (const chunk of createReadStream(from, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>) {
      if (w.size + chunk.length > maxBytes)
        throw new ResourceExhaustedError(`${basename(from)} is larger than the ${maxBytes}-byte import limit`);
      await w.write(chunk);
    }
    return await w.close(basename(from));
  } catch (err) {
    w.destroy();
    throw err;
  }
}

/** The messages of an ImportDataset call, in the service's terms. */
export type UploadPart =
  | { kind: 'header'; fileName: string; sizeBytes?: number; sha256: string; validationFileName: string }
  | { kind: 'chunk'; bytes: Uint8Array }
  | { kind: 'validationChunk'; bytes: Uint8Array };

export interface StagedUpload<H> {
  staging: string;
  header: H;
  source: StagedFile;
  validation?: StagedFile;
}

/**
 * Streams an upload into a fresh staging folder. The header must come first; the declared size and the
 * running size are checked against `maxBytes` before each write, so an oversized upload is refused early.
 * On any failure (limit, checksum, the client going away) the staging folder is removed.
 */
export async function stageUpload<H extends UploadPart & { kind: 'header' }>(
  artefacts: ArtefactStore,
  parts: AsyncIterable<UploadPart>,
  maxBytes: number,
  signal?: AbortSignal,
): Promise<StagedUpload<H>> {
  const staging = await artefacts.stage();
  let header: H | undefined;
  let main: HashingWriter | undefined;
  let val: HashingWriter | undefined;
  try {
    for await (const part of parts) {
      if (part.kind === 'header') {
        if (header !== undefined)
          throw new InvalidArgumentError('the upload header must be sent once, first', { field: 'header' });
        header = part as H;
        if (part.sizeBytes !== undefined && part.sizeBytes > maxBytes) {
          throw new ResourceExhaustedError(
            `the upload declares ${part.sizeBytes} bytes, over the ${maxBytes}-byte import limit`,
          );
        }
        main = new HashingWriter(join(staging, ARTEFACTS.source));
        continue;
      }
      if (header === undefined || main === undefined) {
        throw new InvalidArgumentError('the first message of an upload must be its header', { field: 'header' });
      }
      if (part.kind === 'chunk') {
        if (val !== undefined)
          throw new InvalidArgumentError('main-file chunks must come before validation chunks', { field: 'chunk' });
        if (main.size + part.bytes.length > maxBytes)
          throw new ResourceExhaustedError(`the upload is over the ${maxBytes}-byte import limit`);
        await main.write(part.bytes);
      } else {
        val ??= new HashingWriter(join(staging, ARTEFACTS.validationSource));
        if (main.size + val.size + part.bytes.length > maxBytes)
          throw new ResourceExhaustedError(`the upload is over the ${maxBytes}-byte import limit`);
        await val.write(part.bytes);
      }
    }
    // A client that cancels can end the request stream as if it had finished; the call's signal tells them
    // apart, once the cancellation (delivered in the same turn of the event loop or the next) has landed.
    await new Promise((r) => setTimeout(r, 0));
    await new Promise((r) => setImmediate(r));
    if (signal?.aborted === true) throw new CancelledError('the upload was cancelled before its end');
    if (header === undefined || main === undefined)
      throw new InvalidArgumentError('the upload had no header', { field: 'header' });
    const source = await main.close(header.fileName === '' ? 'upload' : header.fileName);
    if (header.sha256 !== '' && header.sha256.toLowerCase() !== source.sha256) {
      throw new InvalidArgumentError(`the upload's SHA-256 is ${source.sha256}, not the declared ${header.sha256}`, {
        field: 'header.sha256',
      });
    }
    const validation =
      val === undefined
        ? undefined
        : await val.close(header.validationFileName === '' ? 'validation' : header.validationFileName);
    return { staging, header, source, ...(validation !== undefined && { validation }) };
  } catch (err) {
    main?.destroy();
    val?.destroy();
    await artefacts.discard(staging);
    throw err;
  }
}
