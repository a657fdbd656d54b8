// A one-line progress bar for terminals: redrawn in place with \r, so it is only used when stderr is a TTY.

export interface ProgressState {
  step: number;
  totalSteps: number;
  loss?: number;
  /** Seconds left, when the trainer can estimate it. */
  etaSeconds?: number;
}

const WIDTH = 24;

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  const pad = (n: number) => String(n).padStart(2, '0');
  return h > 0 ? `${h}:${pad(m)}:${pad(sec)}` : `${m}:${pad(sec)}`;
}

/** "[#######.........] 12/100 loss 2.3456 eta 1:23" */
export function progressLine(p: ProgressState): string {
  const total = Math.max(1, p.totalSteps);
  const filled = Math.min(WIDTH, Math.round((p.step / total) * WIDTH));
  const bar = `[${'#'.repeat(filled)}${'.'.repeat(WIDTH - filled)}]`;
  const loss = p.loss === undefined ? '' : ` loss ${Number.isFinite(p.loss) ? p.loss.toFixed(4) : String(p.loss)}`;
  const eta = p.etaSeconds === undefined ? '' : ` eta ${formatDuration(p.etaSeconds)}`;
  return `${bar} ${p.step}/${p.totalSteps}${loss}${eta}`;
}

export class ProgressBar {
  private shown = false;

  constructor(private readonly write: (s: string) => void) {}

  update(p: ProgressState): void {
    // \x1b[K clears what a longer previous line left behind.
    this.write(`\r${progressLine(p)}\x1b[K`);
    this.shown = true;
  }

  /** Ends the bar's line so later output starts on a fresh one. */
  finish(): void {
    if (this.shown) this.write('\n');
    this.shown = false;
  }
}
