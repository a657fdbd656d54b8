// CompareAdapters: the same examples through several models, side by side. Each model gets the examples
// tokenised by its own tokenizer; its outputs are the predicted label words (classification datasets) or
// its generations, and its per-example loss on the reference — the sample outputs of an evaluation.
import { loadTokenizer, openModel } from '@tunemesh/engine';
import { InvalidArgumentError } from '@tunemesh/kit';
import {
  type CompareAdaptersRequest,
  type CompareAdaptersResponse,
  type ComparisonSample,
  DatasetSplit,
  Metric,
} from '@tunemesh/proto';
import { computeMetrics } from './compute.js';
import { type DatasetClient, isClassification, readExamples, readyDataset } from './examples.js';
import { type ModelPaths, resolveModel } from './models.js';

export async function compareRpc(
  req: CompareAdaptersRequest,
  deps: { paths: ModelPaths; datasets: DatasetClient },
  signal: AbortSignal,
): Promise<CompareAdaptersResponse> {
  if (req.models.length < 2) throw new InvalidArgumentError('compare needs two or more models', { field: 'models' });
  const count = req.count === 0 ? 10 : req.count;
  if (count > 100) throw new InvalidArgumentError(`count is at most 100, got ${count}`, { field: 'count' });
  const resolved = await Promise.all(req.models.map((m) => resolveModel(m, deps.paths)));
  const d = await readyDataset(deps.datasets, req.datasetId);
  const classification = isClassification(d);
  const offset = Number(req.offset);
  let samples: ComparisonSample[] = [];
  for (const [col, model] of resolved.entries()) {
    const all = await readExamples(
      deps.datasets,
      {
        datasetId: d.id,
        split: req.split || DatasetSplit.VALIDATION,
        modelDir: model.tokenizerDir,
        limit: offset + count,
      },
      signal,
    );
    const examples = all.slice(offset);
    if (examples.length === 0) {
      throw new InvalidArgumentError(`the split has no examples from offset ${offset}`, { field: 'offset' });
    }
    const lm = await openModel(model.baseDir, {
      threads: 1,
      ...(model.adapterDir && { adapterDir: model.adapterDir }),
    });
    try {
      const out = await computeMetrics({
        model: lm,
        tokenizer: await loadTokenizer(model.tokenizerDir),
        examples,
        metrics: [Metric.LOSS, classification ? Metric.ACCURACY : Metric.EXACT_MATCH],
        labelWords: d.template?.labelWords ?? {},
        generation: req.generation ?? { decoding: 0, maxNewTokens: 0, topK: 0, stop: [] },
        batchSize: 8,
        numSamples: examples.length,
        signal,
        onProgress: () => {},
      });
      if (col === 0) {
        samples = out.samples.map((s) => ({
          index: s.index,
          prompt: s.prompt,
          reference: s.reference,
          outputs: [],
          losses: [],
        }));
      }
      out.samples.forEach((s, i) => {
        samples[i]?.outputs.push(s.output);
        samples[i]?.losses.push(s.loss ?? Number.NaN);
      });
    } finally {
      await lm.release();
    }
  }
  return { samples, models: req.models };
}
