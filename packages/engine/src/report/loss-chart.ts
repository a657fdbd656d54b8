/** One point of a loss curve: the optimizer step it was measured at and the loss. */
export interface LossPoint {
  step: number;
  loss: number;
}

export interface LossChartInput {
  train: readonly LossPoint[];
  val?: readonly LossPoint[];
  title?: string;
  /** Pixels; default 640 × 400. */
  width?: number;
  height?: number;
}

/** Plot area inside the SVG, in pixels; exported so tests can map points back to steps and losses. */
export interface ChartFrame {
  left: number;
  top: number;
  right: number;
  bottom: number;
  xMin: number;
  xMax: number;
  yMin: number;
  yMax: number;
}

const MARGIN = { left: 64, right: 20, top: 36, bottom: 48 };
const TRAIN_COLOUR = '#1f77b4';
const VAL_COLOUR = '#d62728';

/**
 * The loss curve of a run as a standalone SVG document: axes with ticks, the training loss as one polyline
 * and the validation loss as a second one with point markers, and a legend. Non-finite losses are left
 * out (a skipped step has no loss to draw). Pure: same input, same bytes.
 */
export function renderLossChart(input: LossChartInput): string {
  const width = input.width ?? 640;
  const height = input.height ?? 400;
  const train = input.train.filter(finitePoint);
  const val = (input.val ?? []).filter(finitePoint);
  const frame = chartFrame([...train, ...val], width, height);
  const x = (step: number) =>
    frame.left + ((step - frame.xMin) / (frame.xMax - frame.xMin)) * (frame.right - frame.left);
  const y = (loss: number) =>
    frame.bottom - ((loss - frame.yMin) / (frame.yMax - frame.yMin)) * (frame.bottom - frame.top);
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect x="0" y="0" width="${width}" height="${height}" fill="white"/>`,
  ];
  if (input.title !== undefined) {
    out.push(`<text x="${width / 2}" y="20" text-anchor="middle" font-size="14">${escapeXml(input.title)}</text>`);
  }
  // Axes and ticks.
  out.push(
    `<g class="axes" stroke="black" fill="none"><line x1="${frame.left}" y1="${frame.bottom}" x2="${frame.right}" y2="${frame.bottom}"/><line x1="${frame.left}" y1="${frame.top}" x2="${frame.left}" y2="${frame.bottom}"/></g>`,
  );
  const ticks: string[] = [];
  for (const t of niceTicks(frame.xMin, frame.xMax, 6)) {
    const px = fmt(x(t));
    ticks.push(
      `<line x1="${px}" y1="${frame.bottom}" x2="${px}" y2="${frame.bottom + 5}" stroke="black"/><text x="${px}" y="${frame.bottom + 18}" text-anchor="middle">${tickLabel(t)}</text>`,
    );
  }
  for (const t of niceTicks(frame.yMin, frame.yMax, 6)) {
    const py = fmt(y(t));
    ticks.push(
      `<line x1="${frame.left - 5}" y1="${py}" x2="${frame.left}" y2="${py}" stroke="black"/><line x1="${frame.left}" y1="${py}" x2="${frame.right}" y2="${py}" stroke="#e0e0e0"/><text x="${frame.left - 8}" y="${py}" text-anchor="end" dominant-baseline="middle">${tickLabel(t)}</text>`,
    );
  }
  out.push(`<g class="ticks">${ticks.join('')}</g>`);
  out.push(
    `<text x="${(frame.left + frame.right) / 2}" y="${height - 10}" text-anchor="middle">step</text>`,
    `<text x="16" y="${(frame.top + frame.bottom) / 2}" text-anchor="middle" transform="rotate(-90 16 ${(frame.top + frame.bottom) / 2})">loss</text>`,
  );
  const points = (ps: readonly LossPoint[]) => ps.map((p) => `${fmt(x(p.step))},${fmt(y(p.loss))}`).join(' ');
  if (train.length > 0) {
    out.push(
      `<polyline class="train" fill="none" stroke="${TRAIN_COLOUR}" stroke-width="1.5" points="${points(train)}"/>`,
    );
  }
  if (val.length > 0) {
    out.push(`<polyline class="val" fill="none" stroke="${VAL_COLOUR}" stroke-width="2" points="${points(val)}"/>`);
    out.push(
      `<g class="val-markers" fill="${VAL_COLOUR}">${val.map((p) => `<circle cx="${fmt(x(p.step))}" cy="${fmt(y(p.loss))}" r="3"/>`).join('')}</g>`,
    );
  }
  // Legend, top right inside the plot.
  const lx = frame.right - 130;
  const ly = frame.top + 8;
  const legend = [
    `<line x1="${lx}" y1="${ly}" x2="${lx + 24}" y2="${ly}" stroke="${TRAIN_COLOUR}" stroke-width="2"/><text x="${lx + 30}" y="${ly}" dominant-baseline="middle">training loss</text>`,
  ];
  if (val.length > 0) {
    legend.push(
      `<line x1="${lx}" y1="${ly + 18}" x2="${lx + 24}" y2="${ly + 18}" stroke="${VAL_COLOUR}" stroke-width="2"/><text x="${lx + 30}" y="${ly + 18}" dominant-baseline="middle">validation loss</text>`,
    );
  }
  out.push(`<g class="legend">${legend.join('')}</g>`, '</svg>');
  return `${out.join('\n')}\n`;
}

/** The plot area and the data ranges it shows (padded so a flat curve still has a height). */
export function chartFrame(points: readonly LossPoint[], width = 640, height = 400): ChartFrame {
  let xMin = Number.POSITIVE_INFINITY;
  let xMax = Number.NEGATIVE_INFINITY;
  let yMin = Number.POSITIVE_INFINITY;
  let yMax = Number.NEGATIVE_INFINITY;
  for (const p of points) {
    xMin = Math.min(xMin, p.step);
    xMax = Math.max(xMax, p.step);
    yMin = Math.min(yMin, p.loss);
    yMax = Math.max(yMax, p.loss);
  }
  if (points.length === 0) [xMin, xMax, yMin, yMax] = [0, 1, 0, 1];
  if (xMax === xMin) xMax = xMin + 1;
  const pad = yMax === yMin ? Math.max(Math.abs(yMin) * 0.1, 0.5) : (yMax - yMin) * 0.05;
  return {
    left: MARGIN.left,
    top: MARGIN.top,
    right: width - MARGIN.right,
    bottom: height - MARGIN.bottom,
    xMin,
    xMax,
    yMin: yMin - pad,
    yMax: yMax + pad,
  };
}

/** About `count` round tick values (1, 2, 5 × 10^k apart) inside [lo, hi]. */
export function niceTicks(lo: number, hi: number, count: number): number[] {
  const raw = (hi - lo) / Math.max(1, count);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = ([1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag) as number;
  const ticks: number[] = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) ticks.push(Number(t.toPrecision(12)));
  return ticks;
}

function finitePoint(p: LossPoint): boolean {
  return Number.isFinite(p.step) && Number.isFinite(p.loss);
}

/** Two decimals keep the file small and the curve exact to a hundredth of a pixel. */
function fmt(v: number): string {
  return String(Math.round(v * 100) / 100);
}

function tickLabel(v: number): string {
  return String(Number(v.toPrecision(6)));
}

function escapeXml(s: string): string {
  return s.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
