/** Small statistics and memory helpers for the benchmarks. */
import fs from "node:fs";
import path from "node:path";

export interface Summary {
  n: number;
  p50: number;
  p95: number;
  mean: number;
  min: number;
  max: number;
}

/** Percentiles by the nearest-rank method. */
export function summarize(values: readonly number[]): Summary {
  const sorted = [...values].sort((a, b) => a - b);
  const rank = (q: number) =>
    sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] ?? NaN;
  return {
    n: sorted.length,
    p50: rank(0.5),
    p95: rank(0.95),
    mean: sorted.reduce((a, b) => a + b, 0) / Math.max(1, sorted.length),
    min: sorted[0] ?? NaN,
    max: sorted[sorted.length - 1] ?? NaN,
  };
}

/** Peak resident set size of this process so far, in bytes (gen-concurrency; gen and stream use MemoryMonitor). */
export function peakRssBytes(): number {
  return process.resourceUsage().maxRSS * 1024;
}

function configOf(folder: string): Record<string, number> {
  return JSON.parse(fs.readFileSync(path.join(folder, "config.json"), "utf8")) as Record<string, number>;
}

/** F16 KV cache bytes for `tokens` positions of a model folder's config. */
export function kvCacheBytes(folder: string, tokens: number, bytesPerElement = 2): number {
  const c = configOf(folder);
  const headDim = c.head_dim ?? c.hidden_size! / c.num_attention_heads!;
  return c.num_hidden_layers! * c.num_key_value_heads! * headDim * 2 * bytesPerElement * tokens;
}

/** Width of the hidden state and rows of the vocabulary of a model folder's config. */
export function modelDims(folder: string): { nEmbd: number; nVocab: number } {
  const c = configOf(folder);
  return { nEmbd: c.hidden_size!, nVocab: c.vocab_size! };
}
