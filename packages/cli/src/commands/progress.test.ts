import { describe, expect, it } from 'vitest';
import { formatDuration, ProgressBar, progressLine } from './progress.js';

describe('progress bar', () => {
  it('draws the fraction done, the loss and the time left', () => {
    expect(progressLine({ step: 6, totalSteps: 24, loss: 2.34567, etaSeconds: 83 })).toBe(
      '[######..................] 6/24 loss 2.3457 eta 1:23',
    );
    expect(progressLine({ step: 24, totalSteps: 24 })).toBe(`[${'#'.repeat(24)}] 24/24`);
    expect(progressLine({ step: 1, totalSteps: 2, loss: Number.NaN })).toContain('loss NaN');
  });

  it('formats durations as m:ss or h:mm:ss', () => {
    expect(formatDuration(0)).toBe('0:00');
    expect(formatDuration(59.6)).toBe('1:00');
    expect(formatDuration(3725)).toBe('1:02:05');
    expect(formatDuration(Number.POSITIVE_INFINITY)).toBe('?');
  });

  it('redraws one line in place and ends it once', () => {
    let out = '';
    const bar = new ProgressBar((s) => (out += s));
    bar.finish();
    expect(out).toBe('');
    bar.update({ step: 1, totalSteps: 2 });
    bar.update({ step: 2, totalSteps: 2 });
    bar.finish();
    bar.finish();
    expect(out.split('\r')).toHaveLength(3);
    expect(out.endsWith('\x1b[K\n')).toBe(true);
    expect(out.match(/\n/g)).toHaveLength(1);
  });
});
