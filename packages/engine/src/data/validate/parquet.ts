// Parquet records through hyparquet, one row group at a time (memory bounded by the largest row group). An
// unreadable footer is one whole-file finding; an unreadable row group is one finding naming its rows, and
// reading goes on with the next group.

import { open } from 'node:fs/promises';
import { type AsyncBuffer, parquetMetadataAsync, parquetReadObjects } from 'hyparquet';
import type { Finding } from './report.js';
import type { RawRecord } from './sources.js';

function malformed(line: number, message: string): Finding {
  return { kind: 'MALFORMED_RECORD', severity: 'error', line, message };
}

/** int64 columns arrive as bigint; rows are JSON-shaped everywhere else, so convert the safe ones. */
function plain(value: unknown): unknown {
  if (typeof value === 'bigint') {
    return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER)
      ? Number(value)
      : String(value);
  }
  if (Array.isArray(value)) return value.map(plain);
  if (value !== null && typeof value === 'object' && !(value instanceof Date) && !(value instanceof Uint8Array)) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v)]));
  }
  return value;
}

const why = (err: unknown) => (err instanceof Error ? err.message : String(err));

/** Rows of a Parquet file; row i (1-based) is reported as line i. Nested fields may be JSON text columns. */
export async function* readParquet(path: string): AsyncGenerator<RawRecord> {
  const fh = await open(path, 'r');
  try {
    const { size } = await fh.stat();
    const file: AsyncBuffer = {
      byteLength: size,
      async slice(start: number, end?: number): Promise<ArrayBuffer> {
        const stop = Math.min(end ?? size, size);
        const buf = new ArrayBuffer(Math.max(0, stop - start));
        if (buf.byteLength > 0) await fh.read(new Uint8Array(buf), 0, buf.byteLength, start);
        return buf;
      },
    };
    let metadata: Awaited<ReturnType<typeof parquetMetadataAsync>>;
    try {
      metadata = await parquetMetadataAsync(file);
    } catch (err) {
      yield { line: 0, finding: malformed(0, `not a readable Parquet file: ${why(err)}`) };
      return;
    }
    let row = 0;
    for (const [g, group] of metadata.row_groups.entries()) {
      const n = Number(group.num_rows);
      let rows: Record<string, unknown>[];
      try {
        rows = (await parquetReadObjects({ file, metadata, rowStart: row, rowEnd: row + n })) as Record<
          string,
          unknown
        >[];
      } catch (err) {
        yield {
          line: row + 1,
          finding: malformed(row + 1, `row group ${g} (rows ${row + 1}–${row + n}) is unreadable: ${why(err)}`),
        };
        row += n;
        continue;
      }
      for (const r of rows) yield { line: ++row, value: plain(r), fromText: true };
    }
  } finally {
    await fh.close();
  }
}
