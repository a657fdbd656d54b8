export {
  type ChartFrame,
  chartFrame,
  type LossChartInput,
  type LossPoint,
  niceTicks,
  renderLossChart,
} from './loss-chart.js';
export {
  type MatMulPeak,
  type MatMulPeakOptions,
  measureMatMulPeak,
  peakRssMiB,
  trainingFlopsPerToken,
} from './throughput.js';
export { benchTraining, type TrainBenchOptions, type TrainBenchResult } from './train-bench.js';
