export interface Benchmark {
  readonly name: string;
  readonly description: string;
  /** Runs the benchmark, printing progress through `log`, and returns its numbers. */
  run(log: (line: string) => void): Promise<Record<string, unknown>>;
}
