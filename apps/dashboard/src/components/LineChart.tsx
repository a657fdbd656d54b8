// A live line chart on uPlot (small, fast, canvas): the series grow while a job runs, so the plot is made once
// and fed with setData. The number of x values (data-points) and of points per series (data-series) are
// exposed for tests.
import { useEffect, useRef } from 'react';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { num } from '../format';

export interface Series {
  label: string;
  color: string;
  /** One value per x; null where the series has no point (e.g. validation loss between evaluations). */
  values: (number | null)[];
}

interface Props {
  title: string;
  xLabel: string;
  x: number[];
  series: Series[];
  testId: string;
  height?: number;
  logY?: boolean;
}

export function LineChart({ title, xLabel, x, series, testId, height = 220, logY = false }: Props) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | undefined>(undefined);
  const labels = series.map((s) => `${s.label}:${s.color}`).join('|');

  // biome-ignore lint/correctness/useExhaustiveDependencies: the plot is rebuilt only when its series change, not on new data
  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const made = new uPlot(
      {
        width: Math.max(320, el.clientWidth),
        height,
        scales: { x: { time: false }, y: logY ? { distr: 3 } : {} },
        // uPlot's default tick labels round small values (learning rates) to equal strings.
        axes: [{ label: xLabel }, { size: 60, values: (_u, ticks) => ticks.map((t) => num(t, 3)) }],
        series: [
          { label: xLabel },
          ...series.map((s) => ({ label: s.label, stroke: s.color, width: 2, spanGaps: true, points: { size: 5 } })),
        ],
      },
      [x, ...series.map((s) => s.values)] as uPlot.AlignedData,
      el,
    );
    plot.current = made;
    const resize = new ResizeObserver(() => made.setSize({ width: Math.max(320, el.clientWidth), height }));
    resize.observe(el);
    return () => {
      resize.disconnect();
      made.destroy();
      plot.current = undefined;
    };
  }, [labels, height, logY, xLabel]);

  useEffect(() => {
    plot.current?.setData([x, ...series.map((s) => s.values)] as uPlot.AlignedData);
  });

  // Points per series, by label, for tests and screen readers.
  const perSeries = Object.fromEntries(series.map((s) => [s.label, s.values.filter((v) => v !== null).length]));
  return (
    <figure className="chart" data-testid={testId} data-points={x.length} data-series={JSON.stringify(perSeries)}>
      <figcaption>{title}</figcaption>
      <div ref={box} />
      {x.length === 0 && <p className="muted">No points yet.</p>}
    </figure>
  );
}
