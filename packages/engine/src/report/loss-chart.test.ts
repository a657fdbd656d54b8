import { describe, expect, it } from 'vitest';
import { chartFrame, type LossPoint, niceTicks, renderLossChart } from './loss-chart.js';

interface Element {
  name: string;
  attrs: Record<string, string>;
}

/** A small XML reader: checks that tags nest and close, and returns every element with its attributes. */
function parseXml(svg: string): Element[] {
  const elements: Element[] = [];
  const open: string[] = [];
  const tag = /<(\/?)([a-zA-Z][\w-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>/g;
  let last = 0;
  for (let m = tag.exec(svg); m !== null; m = tag.exec(svg)) {
    const between = svg.slice(last, m.index);
    expect(between, `stray markup before ${m[0]}`).not.toMatch(/[<>]/);
    expect(between).not.toMatch(/&(?!#\d+;|amp;|lt;|gt;|quot;)/);
    last = tag.lastIndex;
    const [, close, name, rawAttrs, selfClose] = m as unknown as [string, string, string, string, string];
    if (close === '/') {
      expect(open.pop(), `</${name}> closes the wrong element`).toBe(name);
      continue;
    }
    const attrs: Record<string, string> = {};
    for (const a of rawAttrs.matchAll(/([\w:-]+)="([^"]*)"/g)) attrs[a[1] as string] = a[2] as string;
    elements.push({ name, attrs });
    if (selfClose !== '/') open.push(name);
  }
  expect(svg.slice(last).trim()).toBe('');
  expect(open).toEqual([]);
  return elements;
}

function polylinePoints(elements: Element[], cls: string): [number, number][] {
  const line = elements.find((e) => e.name === 'polyline' && e.attrs.class === cls);
  if (line === undefined) return [];
  return (line.attrs.points as string).split(' ').map((p) => p.split(',').map(Number) as [number, number]);
}

describe('renderLossChart', () => {
  const train: LossPoint[] = Array.from({ length: 30 }, (_, i) => ({ step: i + 1, loss: 5 * Math.exp(-i / 10) + 1 }));
  const val: LossPoint[] = [
    { step: 10, loss: 3.1 },
    { step: 20, loss: 2.2 },
    { step: 30, loss: 1.9 },
  ];

  it('draws both curves at the right coordinates, with axes, ticks and a legend', () => {
    const svg = renderLossChart({ train, val, title: 'loss <lora> & "r=8"' });
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    const el = parseXml(svg);
    const frame = chartFrame([...train, ...val]);
    const back = ([px, py]: [number, number]) => ({
      step: frame.xMin + ((px - frame.left) / (frame.right - frame.left)) * (frame.xMax - frame.xMin),
      loss: frame.yMin + ((frame.bottom - py) / (frame.bottom - frame.top)) * (frame.yMax - frame.yMin),
    });
    for (const [cls, series] of [
      ['train', train],
      ['val', val],
    ] as const) {
      const pts = polylinePoints(el, cls);
      expect(pts).toHaveLength(series.length);
      pts.forEach((p, i) => {
        const b = back(p);
        expect(b.step).toBeCloseTo((series[i] as LossPoint).step, 1);
        expect(b.loss).toBeCloseTo((series[i] as LossPoint).loss, 1);
        expect(p[0]).toBeGreaterThanOrEqual(frame.left);
        expect(p[0]).toBeLessThanOrEqual(frame.right);
        expect(p[1]).toBeGreaterThanOrEqual(frame.top);
        expect(p[1]).toBeLessThanOrEqual(frame.bottom);
      });
    }
    // SVG y grows downwards, so a falling loss moves the curve to larger y.
    const tp = polylinePoints(el, 'train');
    expect((tp.at(-1) as [number, number])[1]).toBeGreaterThan((tp[0] as [number, number])[1]);
    expect(el.filter((e) => e.name === 'circle')).toHaveLength(3);
    const texts = svg.match(/<text[^>]*>([^<]*)<\/text>/g) ?? [];
    expect(texts.some((t) => t.includes('training loss'))).toBe(true);
    expect(texts.some((t) => t.includes('validation loss'))).toBe(true);
    expect(texts.some((t) => t.includes('loss &#60;lora&#62; &#38; &#34;r=8&#34;'))).toBe(true);
    expect(el.filter((e) => e.name === 'line').length).toBeGreaterThan(2 + 4 + 4);
  });

  it('leaves out non-finite losses and draws no validation curve without one', () => {
    const svg = renderLossChart({ train: [...train.slice(0, 3), { step: 4, loss: Number.NaN }, { step: 5, loss: 2 }] });
    const el = parseXml(svg);
    expect(polylinePoints(el, 'train')).toHaveLength(4);
    expect(polylinePoints(el, 'val')).toHaveLength(0);
    expect(svg).not.toContain('validation loss');
    expect(svg).not.toMatch(/NaN|Infinity/);
  });

  it('handles a single point and an empty run', () => {
    for (const t of [[{ step: 1, loss: 2 }], []]) {
      const svg = renderLossChart({ train: t });
      expect(svg).not.toMatch(/NaN|Infinity/);
      parseXml(svg);
    }
  });

  it('picks round ticks inside the range', () => {
    expect(niceTicks(0, 30, 6)).toEqual([0, 5, 10, 15, 20, 25, 30]);
    expect(niceTicks(1.03, 1.97, 5)).toEqual([1.2, 1.4, 1.6, 1.8]);
  });
});
