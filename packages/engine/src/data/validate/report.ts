// The validation report: every finding counted per kind, the first ones kept verbatim. Shared by the CLI
// (`tunemesh dataset validate`) and the dataset service, so both say the same thing about the same file.

/** What a finding is about; the names match the FindingKind enum of tunemesh/v1/dataset.proto. */
export type FindingKind =
  | 'EMPTY_FILE'
  | 'NOT_UTF8'
  | 'FORMAT_MISMATCH'
  | 'MALFORMED_RECORD'
  | 'NOT_AN_OBJECT'
  | 'MISSING_FIELD'
  | 'WRONG_TYPE'
  | 'UNKNOWN_ROLE'
  | 'ROLES_NOT_ALTERNATING'
  | 'NO_ASSISTANT_MESSAGE'
  | 'ALL_LABELS_MASKED'
  | 'TOO_LONG'
  | 'DUPLICATE'
  | 'UNKNOWN_LABEL'
  | 'EMPTY_FIELD'
  | 'TOKEN_OUT_OF_RANGE';

/** error: the dataset cannot be used. warning: an example was changed or left out, or may not train as meant. */
export type FindingSeverity = 'error' | 'warning';

export interface Finding {
  kind: FindingKind;
  severity: FindingSeverity;
  /** 1-based line (JSONL, CSV), array element (JSON) or row (Parquet); 0 for the whole file. */
  line: number;
  /** Path of the field in the record, e.g. "messages[2].role"; absent when about the whole record. */
  field?: string;
  message: string;
  /** True when the finding is about a separate validation file. */
  inValidationFile?: boolean;
}

export interface FindingTotal {
  kind: FindingKind;
  severity: FindingSeverity;
  count: number;
}

export interface ValidationReport {
  /** The first findings in file order (at most MAX_LISTED_FINDINGS). */
  findings: Finding[];
  /** Counts per (kind, severity) over the whole file, in order of first appearance. */
  totals: FindingTotal[];
  errorCount: number;
  warningCount: number;
  /** True when more findings were made than listed. */
  findingsTruncated: boolean;
}

export const MAX_LISTED_FINDINGS = 100;

/** Collects findings in constant memory: a capped list plus counters. */
export class ReportBuilder {
  private readonly listed: Finding[] = [];
  private readonly counts = new Map<string, FindingTotal>();
  private errors = 0;
  private warnings = 0;

  constructor(private readonly limit = MAX_LISTED_FINDINGS) {}

  add(finding: Finding): void {
    if (this.listed.length < this.limit) this.listed.push(finding);
    const key = `${finding.kind}/${finding.severity}`;
    const total = this.counts.get(key);
    if (total === undefined) this.counts.set(key, { kind: finding.kind, severity: finding.severity, count: 1 });
    else total.count++;
    if (finding.severity === 'error') this.errors++;
    else this.warnings++;
  }

  get errorCount(): number {
    return this.errors;
  }

  /** Count of one kind (any severity) so far. */
  count(kind: FindingKind): number {
    let n = 0;
    for (const t of this.counts.values()) if (t.kind === kind) n += t.count;
    return n;
  }

  build(): ValidationReport {
    return {
      findings: [...this.listed],
      totals: [...this.counts.values()].map((t) => ({ ...t })),
      errorCount: this.errors,
      warningCount: this.warnings,
      findingsTruncated: this.errors + this.warnings > this.listed.length,
    };
  }
}

/** One line per finding, e.g. "data.jsonl:3 messages[1].role: error UNKNOWN_ROLE: …", for terminals and logs. */
export function formatFinding(file: string, f: Finding): string {
  const at = f.line > 0 ? `${file}:${f.line}` : file;
  const field = f.field === undefined ? '' : ` ${f.field}`;
  return `${at}${field}: ${f.severity} ${f.kind}: ${f.message}`;
}
