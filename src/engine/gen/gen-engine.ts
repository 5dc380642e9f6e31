/**
 * What GenGuard needs from an inference engine. Two implementations: the koffi binding over node-llama-cpp's
 * libllama (ffi-gen-engine.ts: next-token logits read directly, the default) and node-llama-cpp's public API
 * (llama-gen-engine.ts: the fallback when the binding's ABI check fails).
 */
import { Qwen3GuardError } from "../../core/errors.js";
import type { ResolvedEngineOptions } from "../engine-options.js";
import type { GreedyGenerator, TokenScorer } from "./token-scorer.js";

/** What a Gen engine is built from: the GGUF and the engine options with their defaults filled in. */
export interface GenEngineOptions extends ResolvedEngineOptions {
  ggufPath: string;
  /**
   * Token prefixes many prompts start with — the template heads of prompt and response moderation, everything
   * before the conversation. The llama-ffi engine evaluates each once, when a request first needs it, and gives it
   * to every sequence that needs it without evaluating it again (node-llama-cpp's engine ignores them: each of
   * its sequences evaluates the head once for itself).
   */
  sharedPrefixes?: readonly (readonly number[])[];
  /**
   * KV positions in all, shared by every sequence (llama-ffi engine; at least `contextSize`). Default
   * `contextSize × sequences`: every sequence can hold a full context at once. Less saves memory: requests then
   * wait for room when the conversations in flight would not fit together.
   */
  totalContextSize?: number;
}

/** What a Gen engine did (instrumentation for tests and benchmarks: counts, not timings). */
export interface GenEngineStats {
  /** llama.cpp decode calls, and those that carried several sequences at once. */
  decodes: number;
  mergedDecodes: number;
  /** Tokens evaluated, shared prefixes included. */
  tokens: number;
  /** Shared prefixes evaluated, their tokens, and the times one was given to a sequence instead. */
  sharedPrefixEvaluations: number;
  sharedPrefixTokens: number;
  sharedPrefixCopies: number;
  /** The most sequences one decode carried. */
  maxSequencesPerDecode: number;
  /** Requests that waited for KV room, and idle sequences or shared prefixes emptied to make room. */
  roomWaits: number;
  evictions: number;
}

/** One request's hold on a sequence whose state holds the reused prompt prefix. */
export interface GenLease extends TokenScorer, GreedyGenerator {
  /** Prompt tokens whose KV state was reused. */
  readonly reusedTokens: number;
  /** Full next-token distribution after `tokens` (fidelity checks). */
  appendAndDistribution(tokens: readonly number[]): Promise<Map<number, number>>;
  /** Evaluate tokens without reading a distribution (benchmarks time prefill with it). */
  evaluateOnly(tokens: readonly number[]): Promise<void>;
  generateGreedy(
    prompt: readonly number[],
    maxTokens: number,
    options?: { stopAtEog?: boolean },
  ): Promise<number[]>;
}

export interface GenEngine {
  /** "llama-ffi" (the project's binding) or "node-llama-cpp". */
  readonly kind: "llama-ffi" | "node-llama-cpp";
  /** "cpu", "cuda", "vulkan" or "metal". */
  readonly device: string;
  /** Tokens of KV cache each sequence can hold. */
  readonly contextSize: number;
  /**
   * Run `work` on a sequence chosen for `promptIds`, after aligning its state to the prompt: `work` gets the ids
   * still to evaluate (at least one) and a lease on that sequence. `reuse: false` starts from an empty state.
   */
  withSequence<T>(
    promptIds: readonly number[],
    work: (tail: number[], lease: GenLease) => Promise<T>,
    options?: { reuse?: boolean; room?: number },
  ): Promise<T>;
  /** What the engine did so far (the llama-ffi engine). */
  readonly stats?: Readonly<GenEngineStats>;
  dispose(): Promise<void>;
}

/**
 * A Gen conversation does not fit the engine's context (with room for the verdict): load the guard with a larger
 * `contextSize`, or moderate less of the conversation. Code `CONTEXT_OVERFLOW` (the server answers 400).
 *
 * @example
 * ```ts
 * import { ContextOverflowError, GenGuard } from "qwen3guard";
 *
 * const guard = await GenGuard.load({ model: "/models/Qwen3Guard-Gen-0.6B", contextSize: 1024 });
 * try {
 *   await guard.moderatePrompt("a very long document ".repeat(2_000));
 * } catch (error) {
 *   if (error instanceof ContextOverflowError) console.log(error.code, error.message); // CONTEXT_OVERFLOW ...
 *   else throw error;
 * }
 * await guard.close();
 * ```
 */
export class ContextOverflowError extends Qwen3GuardError {
  constructor(message: string) {
    super("CONTEXT_OVERFLOW", message);
  }
}

/** Room kept after the prompt for the verdict's tokens (fast mode); reference mode needs its 128. */
export const VERDICT_ROOM = 64;

export function checkFits(promptTokens: number, contextSize: number, room = VERDICT_ROOM): void {
  if (promptTokens + room > contextSize) {
    throw new ContextOverflowError(
      `the conversation renders to ${promptTokens} tokens, over this engine's ${contextSize}-token context ` +
        `(less ${room} for the verdict): load the guard with a larger context size (--context-size)`,
    );
  }
}

/** Softmax probability of each candidate given the full logits row. */
export function candidateProbabilities(
  logits: Float32Array,
  candidates: readonly number[],
): Map<number, number> {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) if (logits[i]! > max) max = logits[i]!;
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += Math.exp(logits[i]! - max);
  return new Map(candidates.map((c) => [c, Math.exp(logits[c]! - max) / sum]));
}
