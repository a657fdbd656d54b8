export {
  type ChartFrame,
  chartFrame,
  type LossChartInput,
  type LossPoint,
  niceTicks,
  renderLossChart,
} from './loss-chart.js';
