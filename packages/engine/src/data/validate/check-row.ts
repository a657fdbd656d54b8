// Checks of one record beyond its shape (which the engine's parseDataRow checks): empty fields, chat turn
// order, something left to train on, known classification labels. Each problem is one finding.

import type { DataErrorCode } from '../errors.js';
import { type DataRow, IGNORE_INDEX } from '../rows.js';
import type { Finding, FindingKind } from './report.js';

/** What a finding needs of a DataError (the error itself, or the same as data from another thread). */
export interface DataErrorFacts {
  code: DataErrorCode | string;
  message: string;
  file?: string | undefined;
  line?: number | undefined;
  field?: string | undefined;
}

/** The report kind for an engine DataError raised while parsing or tokenising a row. */
export function kindOfDataError(err: DataErrorFacts): FindingKind {
  switch (err.code) {
    case 'DATA_NOT_OBJECT':
      return 'NOT_AN_OBJECT';
    case 'DATA_FORMAT':
      return 'FORMAT_MISMATCH';
    case 'DATA_FIELD_MISSING':
      return 'MISSING_FIELD';
    case 'DATA_FIELD_TYPE':
      return err.message.endsWith('must not be empty') ? 'EMPTY_FIELD' : 'WRONG_TYPE';
    case 'DATA_TOKEN_ID':
      return err.message.includes('must be an integer') ? 'WRONG_TYPE' : 'TOKEN_OUT_OF_RANGE';
    case 'DATA_LABELS_LENGTH':
      return 'WRONG_TYPE';
    case 'DATA_ROLE':
      return 'UNKNOWN_ROLE';
    case 'DATA_TEMPLATE':
      // The template does not render the assistant text where it can be found: its loss span is unknown.
      return 'ALL_LABELS_MASKED';
    case 'DATA_ENCODING':
      return 'NOT_UTF8';
    case 'DATA_EMPTY':
      return 'EMPTY_FILE';
    default:
      return 'MALFORMED_RECORD';
  }
}

/** A DataError as a finding: the engine's "file:line (field 'x'): " prefix is dropped, line and field kept. */
export function findingOfDataError(err: DataErrorFacts, line: number): Finding {
  const prefix = err.line === undefined ? `${err.file}: ` : `${err.file}:${err.line}`;
  let message = err.message;
  if (err.file !== undefined && message.startsWith(prefix)) {
    message = message.slice(prefix.length);
    const fieldPart = err.field === undefined ? '' : ` (field '${err.field}')`;
    if (message.startsWith(fieldPart)) message = message.slice(fieldPart.length);
    if (message.startsWith(': ')) message = message.slice(2);
  }
  return {
    kind: kindOfDataError(err),
    severity: 'error',
    line: err.line ?? line,
    ...(err.field !== undefined && { field: err.field }),
    message,
  };
}

function finding(
  kind: FindingKind,
  line: number,
  field: string | undefined,
  message: string,
  warning = false,
): Finding {
  return { kind, severity: warning ? 'warning' : 'error', line, ...(field !== undefined && { field }), message };
}

/** Semantic checks of a parsed row; `labelWords` (classification) lists the labels the data may use. */
export function checkRow(row: DataRow, labelWords?: Readonly<Record<string, string>>): Finding[] {
  const out: Finding[] = [];
  const { line } = row;
  switch (row.format) {
    case 'text':
      if (row.text.trim() === '') out.push(finding('EMPTY_FIELD', line, 'text', 'is empty: nothing to train on'));
      break;
    case 'alpaca':
      if (row.instruction.trim() === '') out.push(finding('EMPTY_FIELD', line, 'instruction', 'is empty'));
      if (row.output.trim() === '')
        out.push(finding('EMPTY_FIELD', line, 'output', 'is empty: the example has nothing to train on'));
      break;
    case 'classification': {
      if (row.text.trim() === '') out.push(finding('EMPTY_FIELD', line, 'text', 'is empty'));
      const key = String(row.label);
      if (labelWords !== undefined && Object.keys(labelWords).length > 0 && !(key in labelWords)) {
        const known = Object.keys(labelWords)
          .map((k) => JSON.stringify(k))
          .join(', ');
        out.push(
          finding('UNKNOWN_LABEL', line, 'label', `label ${JSON.stringify(key)} has no label word (known: ${known})`),
        );
      }
      break;
    }
    case 'chat':
      out.push(...checkChat(row.messages, line));
      break;
    case 'pretokenized': {
      // The model predicts position k from k-1, so a label at position 0 scores nothing.
      const scored =
        row.labels === undefined
          ? row.input_ids.length - 1
          : row.labels.filter((l, k) => k > 0 && l !== IGNORE_INDEX).length;
      if (scored <= 0)
        out.push(
          finding(
            'ALL_LABELS_MASKED',
            line,
            'labels',
            'every label is -100 (or only the first), so the example teaches nothing',
          ),
        );
      break;
    }
  }
  return out;
}

/**
 * System messages may open the conversation; then user and assistant alternate, starting with the user.
 * At least one assistant message must carry loss (weight 0 excludes one).
 */
function checkChat(messages: readonly { role: string; content: string; weight?: 0 | 1 }[], line: number): Finding[] {
  const out: Finding[] = [];
  let i = 0;
  while (i < messages.length && messages[i]?.role === 'system') i++;
  let expected: 'user' | 'assistant' = 'user';
  let alternationReported = false;
  for (let k = i; k < messages.length; k++) {
    const m = messages[k];
    if (m === undefined) continue;
    if (m.role !== expected && !alternationReported) {
      const why =
        m.role === 'system'
          ? 'a system message may only open the conversation'
          : `expected a ${expected} message after ${k === i ? 'the start' : `messages[${k - 1}] (${messages[k - 1]?.role})`}, got ${m.role}`;
      out.push(
        finding('ROLES_NOT_ALTERNATING', line, `messages[${k}].role`, `user and assistant must alternate: ${why}`),
      );
      alternationReported = true;
    }
    if (m.role === 'user' || m.role === 'assistant') expected = m.role === 'user' ? 'assistant' : 'user';
    if (m.content.trim() === '' && m.role === 'assistant' && m.weight !== 0)
      out.push(
        finding('EMPTY_FIELD', line, `messages[${k}].content`, 'assistant message is empty: nothing to train on'),
      );
    else if (m.content.trim() === '' && m.role === 'user')
      out.push(finding('EMPTY_FIELD', line, `messages[${k}].content`, 'user message is empty', true));
  }
  const assistants = messages.filter((m) => m.role === 'assistant');
  if (assistants.length === 0) {
    out.push(
      finding('NO_ASSISTANT_MESSAGE', line, 'messages', 'no assistant message: the example has nothing to train on'),
    );
  } else if (assistants.every((m) => m.weight === 0)) {
    out.push(
      finding(
        'ALL_LABELS_MASKED',
        line,
        'messages',
        'every assistant message has weight 0, so the example teaches nothing',
      ),
    );
  }
  return out;
}
