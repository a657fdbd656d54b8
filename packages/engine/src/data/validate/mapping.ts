// Column mapping and CSV cell typing: both turn a source record into the field names and types the row
// formats expect, before the engine's parseDataRow checks it.

import type { Finding } from './report.js';

/** Source field name for each canonical field, when the file names them differently. */
export interface ColumnMapping {
  instruction?: string;
  input?: string;
  output?: string;
  system?: string;
  messages?: string;
  role?: string;
  content?: string;
  weight?: string;
  text?: string;
  label?: string;
  input_ids?: string;
  labels?: string;
}

const TOP_LEVEL = [
  'instruction',
  'input',
  'output',
  'system',
  'messages',
  'text',
  'label',
  'input_ids',
  'labels',
] as const;
const IN_MESSAGE = ['role', 'content', 'weight'] as const;
/** Fields that hold JSON (arrays) rather than text; a CSV cell carries them as JSON text. */
const STRUCTURED = ['messages', 'input_ids', 'labels'] as const;
/** Optional fields: an empty CSV cell means "not given". */
const OPTIONAL = ['input', 'system', 'labels'] as const;

type Obj = Record<string, unknown>;

function isObject(v: unknown): v is Obj {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function renamed(obj: Obj, names: readonly string[], mapping: ColumnMapping): Obj {
  const out: Obj = { ...obj };
  for (const name of names) {
    const source = mapping[name as keyof ColumnMapping];
    if (source === undefined || source === '' || source === name) continue;
    delete out[name];
    if (source in obj) out[name] = obj[source];
    delete out[source];
  }
  return out;
}

/** Renames mapped fields (top level and inside chat messages) to their canonical names. */
export function applyMapping(value: unknown, mapping: ColumnMapping | undefined): unknown {
  if (mapping === undefined || !isObject(value)) return value;
  const out = renamed(value, TOP_LEVEL, mapping);
  const hasInner = IN_MESSAGE.some((n) => mapping[n] !== undefined && mapping[n] !== '' && mapping[n] !== n);
  if (hasInner && Array.isArray(out.messages)) {
    out.messages = out.messages.map((m) => (isObject(m) ? renamed(m, IN_MESSAGE, mapping) : m));
  }
  return out;
}

/**
 * Types the string cells of a CSV record: JSON text for structured fields, an empty optional cell as absent,
 * and a message weight as a number. Returns the finding for a cell that should hold JSON but does not.
 */
export function typeCsvCells(record: Obj, line: number): { value: Obj } | { finding: Finding } {
  const out: Obj = { ...record };
  for (const key of OPTIONAL) if (out[key] === '') delete out[key];
  for (const key of STRUCTURED) {
    const cell = out[key];
    if (typeof cell !== 'string') continue;
    try {
      out[key] = JSON.parse(cell);
    } catch (cause) {
      return {
        finding: {
          kind: 'MALFORMED_RECORD',
          severity: 'error',
          line,
          field: key,
          message: `the cell must hold JSON (e.g. ${key === 'messages' ? '[{"role":"user","content":"…"}]' : '[1,2,3]'}): ${cause instanceof Error ? cause.message : String(cause)}`,
        },
      };
    }
  }
  return { value: out };
}
