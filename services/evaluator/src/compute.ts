// Runs the metrics of one evaluation with the engine: a loss pass (LOSS, PERPLEXITY), label-word scoring
// (ACCURACY, MACRO_F1 and the confusion matrix; each prompt runs once, the label words on its KV cache) and greedy or sampled generation (EXACT_MATCH, TOKEN_F1,
// ROUGE_L, BLEU). Each kind runs only when a requested metric needs it.
import {
  classificationReport,
  EvaluationError,
  evaluateLoss,
  generate,
  IGNORE_INDEX,
  type InferenceModel,
  METRIC_TASKS,
  type MetricName,
  scoreContinuations,
  scoreGenerations,
  scoreRows,
  type Tokenizer,
} from '@tunemesh/engine';
import {
  type EvaluationSample,
  type GenerationConfig,
  type LabelScore,
  Metric,
  type MetricResult,
} from '@tunemesh/proto';
import type { EvalExample } from './examples.js';
import { cutAtStop, generateOptions } from './generation.js';

export const METRIC_NAMES: Readonly<Record<Exclude<Metric, Metric.UNSPECIFIED | Metric.UNRECOGNIZED>, MetricName>> = {
  [Metric.LOSS]: 'loss',
  [Metric.PERPLEXITY]: 'perplexity',
  [Metric.ACCURACY]: 'accuracy',
  [Metric.MACRO_F1]: 'macro_f1',
  [Metric.EXACT_MATCH]: 'exact_match',
  [Metric.TOKEN_F1]: 'token_f1',
  [Metric.ROUGE_L]: 'rouge_l',
  [Metric.BLEU]: 'bleu',
};

export function metricName(m: Metric): MetricName | undefined {
  return (METRIC_NAMES as Partial<Record<Metric, MetricName>>)[m];
}

export interface ComputeInput {
  readonly model: InferenceModel;
  readonly tokenizer: Tokenizer;
  readonly examples: readonly EvalExample[];
  readonly metrics: readonly Metric[];
  /** label → label word, for classification datasets. */
  readonly labelWords: Readonly<Record<string, string>>;
  readonly generation: GenerationConfig;
  readonly batchSize: number;
  readonly numSamples: number;
  readonly signal: AbortSignal;
  /** Fraction of the whole evaluation done, in [0, 1]. */
  readonly onProgress: (fraction: number) => void;
}

export interface ComputeOutput {
  results: MetricResult[];
  samples: EvaluationSample[];
  confusion?: { labels: string[]; counts: bigint[] };
  labelScores: LabelScore[];
}

const firstLoss = (labels: readonly number[]): number => {
  const i = labels.findIndex((l) => l !== IGNORE_INDEX);
  return i < 0 ? labels.length : i;
};

/** Label words as the dataset renders them; the default is " <label>" as in tokenize-rows. */
export function classificationLabels(
  labelWords: Readonly<Record<string, string>>,
  examples: readonly EvalExample[],
): { labels: string[]; words: string[] } {
  const keys = Object.keys(labelWords);
  if (keys.length > 0) return { labels: keys, words: keys.map((k) => labelWords[k] as string) };
  // Without label words the dataset trained " <label>"; the references are those words.
  const seen = [...new Set(examples.map((e) => e.referenceText.trim()))].sort();
  return { labels: seen, words: seen.map((l) => ` ${l}`) };
}

export async function computeMetrics(input: ComputeInput): Promise<ComputeOutput> {
  const { model, tokenizer, examples, signal } = input;
  const names = input.metrics.map((m) => metricName(m)).filter((n): n is MetricName => n !== undefined);
  const kinds = new Set(names.map((n) => METRIC_TASKS[n].kind));
  const padId = tokenizer.padTokenId ?? 0;
  const phases = kinds.size;
  let phase = 0;
  const progress = (done: number) => input.onProgress((phase + done / examples.length) / phases);
  const values = new Map<MetricName, number>();
  const samples: EvaluationSample[] = examples.slice(0, input.numSamples).map((e) => ({
    index: BigInt(e.position),
    prompt: e.promptText,
    reference: e.referenceText,
    output: '',
    labelLogLikelihoods: {},
  }));
  const out: ComputeOutput = { results: [], samples, labelScores: [] };
  const rows = examples.map((e) => ({ inputIds: e.inputIds, labels: e.labels }));

  if (kinds.has('loss')) {
    const loss = await evaluateLoss(await model.session('loss'), rows, { padId, batchSize: input.batchSize });
    values.set('loss', loss.loss);
    values.set('perplexity', loss.perplexity);
    // Per-sample losses for inspection, from the logits graph.
    const per = await scoreRows(await model.session('logits'), rows.slice(0, samples.length), { padId, signal });
    per.forEach((s, i) => {
      if (s.tokens > 0) (samples[i] as EvaluationSample).loss = -s.logProb / s.tokens;
    });
    phase++;
  }

  if (kinds.has('categorical')) {
    const { labels, words } = classificationLabels(input.labelWords, examples);
    const wordIds = words.map((w, j) => {
      const ids = tokenizer.encode(w, { addSpecialTokens: false });
      if (ids.length === 0) {
        throw new EvaluationError(
          'empty_label_word',
          `label ${JSON.stringify(labels[j])}'s word ${JSON.stringify(w)} tokenises to nothing`,
        );
      }
      return ids;
    });
    const truth = examples.map((e) => {
      const j = words.findIndex((w) => w.trim() === e.referenceText.trim());
      if (j < 0) {
        throw new EvaluationError(
          'unknown_label',
          `example ${e.position}'s label word ${JSON.stringify(e.referenceText)} is not one of ${words.map((w) => JSON.stringify(w)).join(', ')}`,
        );
      }
      return labels[j] as string;
    });
    const k = labels.length;
    // Each example's prompt as the dataset tokenised it, then each label word's tokens after it.
    const prompts = examples.map((e) => e.inputIds.slice(0, firstLoss(e.labels)));
    let scores: number[][];
    const decoder = await model.decoder();
    // A prompt-learning adapter starts the decode graph from a virtual-token cache (DecoderModel.prefix); those
    // prompts, and empty ones (nothing to cache), are scored as whole rows as before.
    const cacheable = (decoder as { prefix?: unknown }).prefix === undefined && prompts.every((p) => p.length > 0);
    if (cacheable) {
      // The prompt runs once and every label word on its KV cache: k + 1 passes' worth of work, not 2k.
      scores = await scoreContinuations(decoder, prompts, wordIds, {
        padId,
        batchSize: input.batchSize,
        signal,
        onProgress: progress,
      });
    } else {
      const candidates = prompts.flatMap((prompt) =>
        wordIds.map((ids) => ({ inputIds: [...prompt, ...ids], labels: [...prompt.map(() => IGNORE_INDEX), ...ids] })),
      );
      const rows = await scoreRows(await model.session('logits'), candidates, {
        padId,
        batchSize: input.batchSize * k,
        signal,
        onProgress: (done) => progress(Math.floor(done / k)),
      });
      scores = prompts.map((_, n) => wordIds.map((_, j) => rows[n * k + j]!.logProb));
    }
    const predicted = scores.map((row) => {
      let best = 0;
      for (let j = 1; j < k; j++) if (row[j]! > row[best]!) best = j;
      return labels[best] as string;
    });
    const report = classificationReport(predicted, truth, labels);
    values.set('accuracy', report.accuracy);
    values.set('macro_f1', report.macroF1);
    out.confusion = { labels, counts: report.confusion.map(BigInt) };
    out.labelScores = report.perLabel.map((l) => ({ ...l, support: BigInt(l.support) }));
    samples.forEach((s, n) => {
      s.output = words[labels.indexOf(predicted[n] as string)] ?? '';
      s.labelLogLikelihoods = Object.fromEntries(labels.map((l, j) => [l, scores[n]![j]!]));
    });
    phase++;
  }

  if (kinds.has('generative')) {
    const outputs = await generateAll(input, progress);
    for (const n of names) {
      if (METRIC_TASKS[n].kind !== 'generative') continue;
      values.set(
        n,
        scoreGenerations(
          n as 'exact_match' | 'token_f1' | 'rouge_l' | 'bleu',
          outputs,
          examples.map((e) => [e.referenceText]),
        ),
      );
    }
    samples.forEach((s, i) => {
      s.output = outputs[i] ?? '';
    });
    phase++;
  }

  out.results = input.metrics.flatMap((m) => {
    const n = metricName(m);
    const value = n === undefined ? undefined : values.get(n);
    if (n === undefined || value === undefined) return [];
    return [
      { metric: m, value, exampleCount: BigInt(examples.length), higherIsBetter: METRIC_TASKS[n].higherIsBetter },
    ];
  });
  input.onProgress(1);
  return out;
}

/** Generates for every example's prompt in batches, cutting each output at the first stop string. */
async function generateAll(input: ComputeInput, progress: (done: number) => void): Promise<string[]> {
  const opts = generateOptions(input.generation, input.tokenizer);
  const decoder = await input.model.decoder();
  const outputs: string[] = [];
  for (let start = 0; start < input.examples.length; start += input.batchSize) {
    input.signal.throwIfAborted();
    const batch = input.examples.slice(start, start + input.batchSize);
    const prompts = batch.map((e) => e.inputIds.slice(0, firstLoss(e.labels)));
    for (const gen of await generate(decoder, prompts, opts)) {
      const text = input.tokenizer.decode(gen.ids, { skipSpecialTokens: true });
      outputs.push(cutAtStop(text, input.generation.stop).text);
    }
    progress(outputs.length);
  }
  return outputs;
}
