// GraphQL multipart requests (graphql-multipart-request-spec): `operations` (the JSON body), `map` (which file
// goes to which variable path), then the files. Files are read into memory up to the upload limit and put into
// the variables as UploadedFile values, which the Upload scalar passes through to the resolver.
import type { IncomingMessage } from 'node:http';
import busboy from 'busboy';

export interface UploadedFile {
  readonly kind: 'uploaded-file';
  filename: string;
  mimetype: string;
  bytes: Uint8Array;
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

export function readMultipart(req: IncomingMessage, maxFileBytes: number): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    let operations: Record<string, unknown> | undefined;
    let map: Record<string, string[]> | undefined;
    const pending: Promise<void>[] = [];
    let failed = false;
    const fail = (err: MultipartError) => {
      if (failed) return;
      failed = true;
      req.unpipe();
      req.resume();
      reject(err);
    };
    let parser: busboy.Busboy;
    try {
      parser = busboy({ headers: req.headers, limits: { fileSize: maxFileBytes, fieldSize: maxFileBytes, files: 8 } });
    } catch {
      reject(new MultipartError('not a multipart/form-data request', 400));
      return;
    }
    parser.on('field', (name, value) => {
      try {
        if (name === 'operations') operations = JSON.parse(value) as Record<string, unknown>;
        else if (name === 'map') map = JSON.parse(value) as Record<string, string[]>;
      } catch {
        fail(new MultipartError(`the ${name} field is not valid JSON`, 400));
      }
    });
    parser.on('file', (field, stream, info) => {
      if (operations === undefined || map === undefined) {
        stream.resume();
        fail(new MultipartError('operations and map must come before the files', 400));
        return;
      }
      const paths = map[field];
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      pending.push(
        new Promise((done) => {
          stream.on('close', () => {
            if ((stream as { truncated?: boolean }).truncated) {
              fail(new MultipartError(`file ${info.filename} is over the upload limit of ${maxFileBytes} bytes`, 413));
            } else if (operations && paths) {
              const file: UploadedFile = {
                kind: 'uploaded-file',
                filename: info.filename ?? 'upload',
                mimetype: info.mimeType,
                bytes: Buffer.concat(chunks),
              };
              try {
                for (const path of paths) setPath(operations, path, file);
              } catch (err) {
                fail(err as MultipartError);
              }
            }
            done();
          });
        }),
      );
    });
    parser.on('error', () => fail(new MultipartError('malformed multipart request', 400)));
    parser.on('close', () => {
      void Promise.all(pending).then(() => {
        if (failed) return;
        if (operations === undefined) fail(new MultipartError('multipart request without operations', 400));
        else resolve(operations);
      });
    });
    req.pipe(parser);
  });
}
