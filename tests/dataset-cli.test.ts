// `tunemesh dataset validate` in-process: the report on stdout, one line and exit 1 on errors, 0 otherwise.

import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { runTunemeshInProcess } from '../packages/cli/src/testing.js';

const root = resolve(fileURLToPath(new URL('..', import.meta.url)));
const data = (f: string) => join(root, 'packages/engine/src/data/validate/testdata', f);
const qwen = resolve(root, '../shared/fixtures/models/tiny-qwen2');

const run = (...args: string[]) => runTunemeshInProcess(args);

describe('tunemesh dataset validate', () => {
  it('prints each finding with file:line and field, and exits 1 on errors', async () => {
    const r = await run('dataset', 'validate', data('chat-problems.jsonl'));
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('chat (JSONL), 7 records, 1 kept; 6 error(s), 0 warning(s)');
    expect(r.stdout).toMatch(/chat-problems\.jsonl:2 messages\[1\]\.role: error UNKNOWN_ROLE: unknown role "bot"/);
    expect(r.stderr).toMatch(
      /^tunemesh: .*chat-problems\.jsonl: 6 error\(s\), 0 warning\(s\); the data is not usable\n$/,
    );
  });

  it('exits 0 with warnings only, and reports token statistics with --model', async () => {
    const r = await run('dataset', 'validate', data('long.jsonl'), '--model', qwen, '--max-length', '8');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('long.jsonl:2: warning TOO_LONG');
    expect(r.stdout).toMatch(
      /tokens: min \d+, mean [\d.]+, p50 \d+, p95 \d+, max \d+ \(limit 8\); [\d.]+% of tokens carry loss/,
    );
  });

  it('--json prints the summary; --format and --map apply', async () => {
    const r = await run('dataset', 'validate', data('sentiment.csv'), '--map', 'text=review,label=sentiment', '--json');
    expect(r.code).toBe(0);
    const s = JSON.parse(r.stdout);
    expect(s).toMatchObject({
      format: 'classification',
      fileFormat: 'csv',
      counts: { kept: 2 },
      labelCounts: { 0: 1, 1: 1 },
    });
    const bad = await run('dataset', 'validate', data('alpaca-declared-chat.jsonl'), '--format', 'alpaca', '--json');
    expect(bad.code).toBe(1);
    expect(JSON.parse(bad.stdout).report.findings[0]).toMatchObject({ kind: 'FORMAT_MISMATCH', line: 1 });
  });

  it('classification with a prompt template and label words flags unknown labels', async () => {
    const r = await run(
      'dataset',
      'validate',
      data('sentiment.jsonl'),
      '--model',
      qwen,
      '--prompt-template',
      'Review: {text}\\nSentiment:',
      '--label-words',
      '0= negative,1= positive',
    );
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('sentiment.jsonl:5 label: error UNKNOWN_LABEL: label "2" has no label word');
    expect(r.stdout).toContain('labels: 0: 2, 1: 2');
  });

  it('a bad option value is a usage error (exit 2)', async () => {
    const r = await run('dataset', 'validate', data('long.jsonl'), '--format', 'yaml');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^tunemesh: .*Expected one of pretokenized/);
  });

  it('a missing file is an input error naming it', async () => {
    const r = await run('dataset', 'validate', data('no-such-file.jsonl'));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^tunemesh: .*no-such-file\.jsonl/);
  });
});
