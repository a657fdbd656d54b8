// Per-key rate limit: a token bucket per API key (per client address for requests without a valid key),
// refilled continuously at `perMinute` / 60 per second, holding at most `perMinute` tokens (the burst).
export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    readonly perMinute: number,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Takes one token; returns 0 when allowed, else the seconds until one is available. */
  take(key: string): number {
    if (this.perMinute <= 0) return 0; // 0 turns the limit off
    const now = this.now();
    const ratePerMs = this.perMinute / 60_000;
    const bucket = this.buckets.get(key) ?? { tokens: this.perMinute, at: now };
    bucket.tokens = Math.min(this.perMinute, bucket.tokens + (now - bucket.at) * ratePerMs);
    bucket.at = now;
    this.buckets.set(key, bucket);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return 0;
    }
    // Full buckets are forgotten lazily: a map entry per active key, dropped when the map grows large.
    if (this.buckets.size > 10_000) {
      for (const [k, b] of this.buckets)
        if (b.tokens + (now - b.at) * ratePerMs >= this.perMinute) this.buckets.delete(k);
    }
    return Math.ceil((1 - bucket.tokens) / ratePerMs / 1000);
  }
}
