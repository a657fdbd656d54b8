// Label-word classification and per-row scores on a real fixture model, checked against the loss-mode graph
// (a separate graph and code path): a row's summed log-likelihood must equal -(mean loss x scored tokens).
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClassificationRow } from '../data/rows.js';
import { tokenizeRow } from '../data/tokenize-rows.js';
import { loadTokenizer, type Tokenizer } from '../data/tokenizer.js';
import { type InferenceModel, openModel } from '../infer/model.js';
import { evaluateLoss } from '../infer/score.js';
import { classificationReport } from './classification.js';
import { EvaluationError } from './errors.js';
import { classifyByLabelWords, requireClassificationRows } from './label-words.js';
import { scoreRows } from './row-scores.js';

const fixtures = resolve(dirname(fileURLToPath(import.meta.url)), '../../../../../shared/fixtures');
const dir = join(fixtures, 'models', 'tiny-gpt2');
let model: InferenceModel;
let tokenizer: Tokenizer;
beforeAll(async () => {
  model = await openModel(dir, { threads: 1 });
  tokenizer = await loadTokenizer(dir);
});
afterAll(async () => {
  await model.release();
});

const row = (text: string, label: string, line: number): ClassificationRow => ({
  format: 'classification',
  text,
  label,
  line,
});
const rows = [
  row('a wonderful film, I loved it', '1', 1),
  row('dull and far too long', '0', 2),
  row('the acting was great', '1', 3),
  row('I want my money back', '0', 4),
  row('fine', '1', 5),
];
const classification = { template: 'Review: {text}\nSentiment:', labelWords: { '0': ' negative', '1': ' positive' } };

describe('classifyByLabelWords', () => {
  it('gives each label the log-likelihood the loss graph gives its word', async () => {
    const preds = await classifyByLabelWords(await model.session('logits'), rows, {
      tokenizer,
      padId: 0,
      classification,
      batchSize: 2,
    });
    const loss = await model.session('loss');
    for (const [n, p] of preds.entries()) {
      expect(p.label).toBe(rows[n]!.label);
      for (const label of ['0', '1']) {
        const t = tokenizeRow({ ...rows[n]!, label }, tokenizer, { classification });
        const ref = await evaluateLoss(loss, [{ inputIds: t.input_ids, labels: t.labels }], { padId: 0 });
        expect(p.logLikelihoods[label]).toBeCloseTo(-ref.loss * ref.tokens, 4);
      }
      const best = p.logLikelihoods['0']! >= p.logLikelihoods['1']! ? '0' : '1';
      expect(p.predicted).toBe(best);
    }
    const report = classificationReport(
      preds.map((p) => p.predicted),
      preds.map((p) => p.label),
      ['0', '1'],
    );
    expect(report.confusion.reduce((a, b) => a + b, 0)).toBe(5);
  });

  it('scores the same whatever the batch size', async () => {
    const session = await model.session('logits');
    const scoring = rows.map((r) => {
      const t = tokenizeRow(r, tokenizer, { classification });
      return { inputIds: t.input_ids, labels: t.labels };
    });
    const one = await scoreRows(session, scoring, { padId: 0, batchSize: 1 });
    const all = await scoreRows(session, scoring, { padId: 0, batchSize: 5 });
    for (const [i, s] of one.entries()) expect(all[i]!.logProb).toBeCloseTo(s.logProb, 4);
  });

  it('refuses label words that tokenise to nothing and rows without labels', async () => {
    const session = await model.session('logits');
    await expect(
      classifyByLabelWords(session, rows, {
        tokenizer,
        padId: 0,
        classification: { template: classification.template, labelWords: { '0': ' negative', '1': '' } },
      }),
    ).rejects.toSatisfy(
      (e: unknown) => e instanceof EvaluationError && e.code === 'empty_label_word' && /"1"/.test(e.message),
    );
    expect(() => requireClassificationRows([{ format: 'text', text: 'x', line: 1 }])).toThrow(
      /need rows with "text" and "label"/,
    );
    await expect(
      classifyByLabelWords(session, [row('x', '7', 9)], { tokenizer, padId: 0, classification }),
    ).rejects.toThrow(/label "7", not one of "0", "1"/);
  });
});
