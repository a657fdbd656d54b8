// GraphQL multipart requests (graphql-multipart-request-spec): `operations` (the JSON body), `map` (which file
// goes to which variable path), then the files. The request resolves as soon as operations and map are read,
// with an UploadedFile at each mapped variable path; the operation then runs while the files are still arriving,
// and a resolver reads its file as a stream (importDataset forwards it chunk by chunk to the dataset service), so
// an upload is never held in the gateway's memory whole. A file over the upload limit fails its stream and the
// request answers 413.
import type { IncomingMessage } from 'node:http';
import type { Readable } from 'node:stream';
import busboy from 'busboy';

export interface OpenedUpload {
  readonly filename: string;
  readonly mimetype: string;
  /** The file's bytes as they arrive; fails with MultipartError (413) past the upload limit. */
  readonly stream: AsyncIterable<Buffer>;
}

export interface UploadedFile {
  readonly kind: 'uploaded-file';
  /** Waits for the file's part of the request (parts come in order) and hands over its stream; once only. */
  open(): Promise<OpenedUpload>;
}

export function isUploadedFile(value: unknown): value is UploadedFile {
  return typeof value === 'object' && value !== null && (value as { kind?: unknown }).kind === 'uploaded-file';
}

export class MultipartError extends Error {
  override readonly name = 'MultipartError';
  constructor(
    message: string,
    readonly status: 400 | 413,
  ) {
    super(message);
  }
}

export interface MultipartRequest {
  /** The operations object, with an UploadedFile at every path the map names. */
  readonly operations: Record<string, unknown>;
  /** The first error met while reading the rest of the request (a file over the limit: 413), if any. */
  failure(): MultipartError | undefined;
  /** Discards whatever no resolver read, so the request can end; call when the operation has run. */
  drain(): void;
}

/** Sets `value` at a dotted path like `variables.input.upload` (or `variables.files.0`). */
function setPath(target: Record<string, unknown>, path: string, value: unknown): void {
  const keys = path.split('.');
  let node: unknown = target;
  for (const key of keys.slice(0, -1)) {
    node = (node as Record<string, unknown> | undefined)?.[key];
    if (typeof node !== 'object' || node === null) throw new MultipartError(`map names a missing path: ${path}`, 400);
  }
  (node as Record<string, unknown>)[keys.at(-1) as string] = value;
}

interface Slot {
  file: UploadedFile;
  arrived: (f: { filename: string; mimetype: string; stream: Readable }) => void;
  missing: (err: MultipartError) => void;
  stream?: Readable;
  opened: boolean;
}

export function readMultipart(req: IncomingMessage, maxFileBytes: number): Promise<MultipartRequest> {
  return new Promise((resolve, reject) => {
    let operations: Record<string, unknown> | undefined;
    let map: Record<string, string[]> | undefined;
    const slots = new Map<string, Slot>();
    let failure: MultipartError | undefined;
    let resolved = false;
    let parser: busboy.Busboy;
    try {
      parser = busboy({ headers: req.headers, limits: { fileSize: maxFileBytes, fieldSize: maxFileBytes, files: 8 } });
    } catch {
      reject(new MultipartError('not a multipart/form-data request', 400));
      return;
    }
    const fail = (err: MultipartError) => {
      failure ??= err;
      for (const slot of slots.values()) {
        slot.missing(err);
        slot.stream?.destroy(err);
      }
      if (!resolved) {
        resolved = true;
        reject(err);
      }
      req.unpipe(parser);
      req.resume();
    };
    const drain = () => {
      for (const slot of slots.values()) if (!slot.opened) slot.stream?.resume();
    };
    const ready = () => {
      if (resolved || operations === undefined || map === undefined) return;
      const ops = operations;
      try {
        for (const [field, paths] of Object.entries(map)) {
          let arrived: Slot['arrived'] = () => undefined;
          let missing: Slot['missing'] = () => undefined;
          const part = new Promise<{ filename: string; mimetype: string; stream: Readable }>((ok, ko) => {
            arrived = ok;
            missing = ko;
          });
          // Nobody may ever open it; its rejection must not surface as unhandled.
          part.catch(() => undefined);
          const slot: Slot = {
            arrived: (f) => arrived(f),
            missing: (e) => missing(e),
            opened: false,
            file: {
              kind: 'uploaded-file',
              async open() {
                if (slot.opened) throw new MultipartError(`file ${field} was already read`, 400);
                slot.opened = true;
                const f = await part;
                return { filename: f.filename, mimetype: f.mimetype, stream: f.stream };
              },
            },
          };
          slots.set(field, slot);
          for (const path of paths) setPath(ops, path, slot.file);
        }
      } catch (err) {
        fail(err instanceof MultipartError ? err : new MultipartError('the map field is malformed', 400));
        return;
      }
      resolved = true;
      resolve({ operations: ops, failure: () => failure, drain });
    };
    parser.on('field', (name, value) => {
      try {
        if (name === 'operations') operations = JSON.parse(value) as Record<string, unknown>;
        else if (name === 'map') map = JSON.parse(value) as Record<string, string[]>;
      } catch {
        fail(new MultipartError(`the ${name} field is not valid JSON`, 400));
        return;
      }
      ready();
    });
    parser.on('file', (field, stream, info) => {
      const slot = slots.get(field);
      if (!resolved || slot === undefined) {
        stream.resume();
        if (!resolved) fail(new MultipartError('operations and map must come before the files', 400));
        return;
      }
      slot.stream = stream;
      // The reader sees a failure through its iterator; this keeps a stream nobody reads from throwing it.
      stream.on('error', () => undefined);
      stream.on('limit', () =>
        fail(new MultipartError(`file ${info.filename} is over the upload limit of ${maxFileBytes} bytes`, 413)),
      );
      slot.arrived({ filename: info.filename ?? 'upload', mimetype: info.mimeType, stream });
    });
    parser.on('error', () => fail(new MultipartError('malformed multipart request', 400)));
    parser.on('close', () => {
      if (!resolved) {
        fail(new MultipartError('multipart request without operations and map', 400));
        return;
      }
      for (const [field, slot] of slots) {
        if (slot.stream === undefined) slot.missing(new MultipartError(`the request has no file ${field}`, 400));
      }
    });
    req.pipe(parser);
  });
}
