// The model sizes the benchmarks share. `small` is issue 4's benchmark model: Qwen2-style, hidden 512, 8 layers,
// 8 heads, 4 KV heads, intermediate 1408, vocab 4096 (float32, random weights from makeTinyModel): 25.7 M params.
export const SMALL = { hidden: 512, layers: 8, heads: 8, kvHeads: 4, intermediate: 1408, vocab: 4096 } as const;

/** A 4-layer model whose LoRA step takes tens of milliseconds: per-step costs around the step show at their worst. */
export const TINY4 = { hidden: 256, layers: 4, heads: 4, kvHeads: 2, intermediate: 704, vocab: 1024 } as const;
