/**
 * What the Stream guard needs from an inference engine: per-token post-final-norm hidden states of the Qwen3
 * backbone, appended incrementally to independent sequences whose KV cache is kept between calls.
 *
 * Three implementations: the koffi binding over libllama (`LlamaFfiHiddenStateEngine`: a chunk per decode, several
 * sequences per batch), node-llama-cpp's one-token path (`NodeLlamaHiddenStateEngine`, the fallback when the
 * binding's ABI check fails: one token per decode, one context per sequence) — both return the same numbers — and
 * remote engines over HTTP (`RemoteHiddenStateEngine`: vLLM's pooling API, llama-server's embeddings, qwen3guard).
 */
import type { ResolvedEngineOptions } from "../engine-options.js";

export type HiddenStateEngineKind = "llama-ffi" | "node-llama-cpp" | "remote";

/** Tokens to append to one sequence. */
export interface HiddenStateItem {
  seq: number;
  tokens: readonly number[];
}

export interface HiddenStateEngine {
  readonly kind: HiddenStateEngineKind;
  /** Where the layers run: "cpu", or the GPU backend ("cuda", "vulkan", "metal"...). */
  readonly device: string;
  /** Width of a hidden state. */
  readonly hiddenSize: number;
  /** Sequence ids are 0 .. sequences-1. */
  readonly sequences: number;
  /** Positions one sequence can hold. */
  readonly contextSize: number;
  /**
   * How tokens should be grouped into decodes, for engines whose decode cost grows with the sequence (remote
   * engines recompute it whole): the decode coalescer waits up to `maxWaitMs` for `minTokens` tokens of one
   * sequence. Absent: every decode starts as soon as tokens are pending.
   */
  readonly chunking?: { readonly minTokens: number; readonly maxWaitMs: number };
  /** Prepare an empty sequence (forgets anything it held). */
  open(seq: number): Promise<void>;
  /**
   * Append tokens to sequences; returns, per item, one hidden state per token (copied). The items' positions
   * continue each sequence. Items may name different sequences; the engine may run them in one batch.
   */
  decode(items: readonly HiddenStateItem[]): Promise<Float32Array[][]>;
  /** Forget positions >= fromPos of a sequence. */
  rollback(seq: number, fromPos: number): Promise<void>;
  /** Forget everything the sequence holds; it can be opened again. */
  close(seq: number): Promise<void>;
  /** Free the model and contexts. */
  dispose(): Promise<void>;
}

/** What a hidden-state engine is built from: the backbone GGUF and the engine options with their defaults filled in. */
export interface HiddenStateEngineOptions extends ResolvedEngineOptions {
  ggufPath: string;
}
