// What an import keeps about each example until the end (for the split and the statistics), in typed columns
// — about 30 bytes an example, where objects with a 64-character key took several hundred.

const INITIAL = 1024;

export interface ExampleFacts {
  fromValidationFile: boolean;
  /** Tokens after truncation (0 without a tokenizer). */
  length: number;
  /** Tokens before truncation. */
  lengthBefore: number;
  /** Tokens that carry loss. */
  loss: number;
  /** Classification label, as text. */
  label: string | undefined;
  /** The example's splitScore. */
  score: number;
}

export class FactsTable {
  private n = 0;
  private lengths = new Int32Array(INITIAL);
  private lengthsBefore = new Int32Array(INITIAL);
  private losses = new Int32Array(INITIAL);
  private validationFile = new Uint8Array(INITIAL);
  private labelIds = new Int32Array(INITIAL);
  private scoreColumn = new Float64Array(INITIAL);
  private readonly labelNames: string[] = [];
  private readonly labelIndex = new Map<string, number>();

  get length(): number {
    return this.n;
  }

  push(f: ExampleFacts): void {
    if (this.n === this.lengths.length) this.grow();
    const i = this.n++;
    this.lengths[i] = f.length;
    this.lengthsBefore[i] = f.lengthBefore;
    this.losses[i] = f.loss;
    this.validationFile[i] = f.fromValidationFile ? 1 : 0;
    this.scoreColumn[i] = f.score;
    let label = -1;
    if (f.label !== undefined) {
      label = this.labelIndex.get(f.label) ?? -1;
      if (label < 0) {
        label = this.labelNames.length;
        this.labelNames.push(f.label);
        this.labelIndex.set(f.label, label);
      }
    }
    this.labelIds[i] = label;
  }

  get(i: number): ExampleFacts {
    if (i < 0 || i >= this.n) throw new RangeError(`no example ${i} (have ${this.n})`);
    const label = this.labelIds[i] as number;
    return {
      fromValidationFile: this.validationFile[i] === 1,
      length: this.lengths[i] as number,
      lengthBefore: this.lengthsBefore[i] as number,
      loss: this.losses[i] as number,
      label: label < 0 ? undefined : this.labelNames[label],
      score: this.scoreColumn[i] as number,
    };
  }

  /** The split scores in example order (a view, valid until the next push). */
  scores(): Float64Array {
    return this.scoreColumn.subarray(0, this.n);
  }

  private grow(): void {
    const cap = this.lengths.length * 2;
    const more = <T extends Int32Array | Uint8Array | Float64Array>(a: T, make: (n: number) => T): T => {
      const b = make(cap);
      b.set(a);
      return b;
    };
    this.lengths = more(this.lengths, (n) => new Int32Array(n));
    this.lengthsBefore = more(this.lengthsBefore, (n) => new Int32Array(n));
    this.losses = more(this.losses, (n) => new Int32Array(n));
    this.validationFile = more(this.validationFile, (n) => new Uint8Array(n));
    this.labelIds = more(this.labelIds, (n) => new Int32Array(n));
    this.scoreColumn = more(this.scoreColumn, (n) => new Float64Array(n));
  }
}
