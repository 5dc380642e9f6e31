/** Typed verdicts produced by the Gen and Stream paths. */
import type { Category, Direction, RefusalLabel, RiskTier } from "./labels.js";

/**
 * The probability of each tier (sums to 1 over the three tiers): `verdict.probabilities` (Gen, read from the
 * next-token distribution after `Safety:`) and the Stream verdicts' `probabilities`. Policy thresholds read it.
 *
 * @example
 * ```ts
 * import type { TierProbabilities } from "qwen3guard";
 *
 * const p: TierProbabilities = { Safe: 0.7, Unsafe: 0.1, Controversial: 0.2 };
 * console.log(p.Unsafe + p.Controversial >= 0.3); // true: not clearly safe
 * ```
 */
export type TierProbabilities = Record<RiskTier, number>;

/**
 * Tier probabilities a remote engine's top-k log-probabilities could only bound: the first token of at least one
 * tier was not among the k most probable tokens after `Safety:`, so its probability is known only to be at most
 * the k-th's. Each tier's probability, renormalised over the three tiers as `Verdict.probabilities` would be, lies
 * in `[min[tier], max[tier]]`. No number is made up for a tier outside the top k.
 *
 * @example
 * ```ts
 * import { GenGuard, type TierProbabilityBounds } from "qwen3guard";
 *
 * // a guard on a top-k engine (llama-server, Ollama): a tier outside the top 20 is a bound, not a number
 * const guard = await GenGuard.load({
 *   model: "/models/Qwen3Guard-Gen-0.6B",
 *   remote: { backends: [{ kind: "llama-server", url: "http://127.0.0.1:8080" }] },
 * });
 * const verdict = await guard.moderatePrompt("How do I bake bread?");
 * const bounds: TierProbabilityBounds | undefined = verdict.probabilityBounds;
 * if (bounds) console.log(bounds.outsideTopK, bounds.min.Safe, bounds.max.Safe);
 * await guard.close();
 * ```
 */
export interface TierProbabilityBounds {
  readonly min: TierProbabilities;
  readonly max: TierProbabilities;
  /** The tiers whose first token was outside the top k: their raw probability is at most `kthProbability`. */
  readonly outsideTopK: readonly RiskTier[];
  /** How many of the most probable tokens the engine reported at that position. */
  readonly k: number;
  /** Raw probability of the k-th most probable token there: the bound on every token outside the top k. */
  readonly kthProbability: number;
}

/**
 * Which remote engine produced a verdict (guards loaded with `remote` backends): `Verdict.remote`.
 *
 * @example
 * ```ts
 * import { GenGuard, type RemoteVerdictInfo } from "qwen3guard";
 *
 * const guard = await GenGuard.load({
 *   model: "/models/Qwen3Guard-Gen-0.6B",
 *   remote: { backends: [{ kind: "vllm", url: "http://10.0.0.5:8000", model: "Qwen/Qwen3Guard-Gen-0.6B" }] },
 * });
 * const verdict = await guard.moderatePrompt("How do I bake bread?");
 * const remote: RemoteVerdictInfo | undefined = verdict.remote;
 * console.log(remote?.backend, remote?.attempts); // vllm@10.0.0.5:8000 1
 * await guard.close();
 * ```
 */
export interface RemoteVerdictInfo {
  /** The backend's name (`RemoteBackend.name`, default `kind@host:port`). */
  readonly backend: string;
  /** `"vllm"`, `"sglang"`, `"llama-server"`, `"ollama"` or `"qwen3guard"`. */
  readonly kind: string;
  /** Completion requests the verdict took (1 when the engine's own continuation was the decoder's path). */
  readonly requests: number;
  /** Attempts made, retries included (at least `requests`). */
  readonly attempts: number;
  /**
   * Choices of the format (tier, category, more or stop, refusal) for which the engine reported none of the
   * options' log-probabilities (all outside its top k), so the option its own text went on with was taken. 0: the
   * verdict is exactly the embedded decoder's.
   */
  readonly choicesFromText: number;
}

/**
 * What a Gen model said, parsed from its text output: the direction, tier, categories, refusal (responses) and
 * the raw text. `parseGenOutput` returns it; a `Verdict` extends it.
 *
 * @example
 * ```ts
 * import { parseGenOutput, type GenOutput } from "qwen3guard/core";
 *
 * const output: GenOutput = parseGenOutput("Safety: Unsafe\nCategories: Violent\nRefusal: No", "response");
 * console.log(output.tier, output.categories, output.refusal); // Unsafe ["Violent"] No
 * ```
 */
export interface GenOutput {
  direction: Direction;
  tier: RiskTier;
  /** Categories named in the output, in the order they appear; empty when the model said `None`. */
  categories: Category[];
  /** `Yes`/`No` for response moderation; undefined for prompts or when the line is missing. */
  refusal?: RefusalLabel;
  /** The raw text the model produced. */
  raw: string;
}

/**
 * Token counts of a Gen verdict (`verdict.tokens`): how much the prompt weighed and how much work the verdict took
 * (the template head's KV state is reused, so `evaluated` is well below `prompt`).
 *
 * @example
 * ```ts
 * import type { TokenCounts, Verdict } from "qwen3guard";
 *
 * function reused(verdict: Verdict): number {
 *   const tokens: TokenCounts | undefined = verdict.tokens;
 *   return tokens === undefined ? 0 : tokens.prompt + tokens.generated - tokens.evaluated;
 * }
 * console.log(reused({ direction: "prompt", tier: "Safe", categories: [], raw: "", unsafeStrict: false, unsafeLoose: false }));
 * ```
 */
export interface TokenCounts {
  /** Tokens of the whole prompt the model saw. */
  prompt: number;
  /** Tokens the engine evaluated for this verdict: the prompt past the reused prefix, plus output tokens. */
  evaluated: number;
  /** Tokens generated. */
  generated: number;
  /** Engine evaluations (decodes) the verdict took: 1 for the prompt, plus one per open choice of the format. */
  evaluations: number;
}

/**
 * Where the time of a Gen verdict went (`verdict.timings`), in milliseconds: queued (rendering, tokenizing,
 * waiting for a free sequence) and on the engine.
 *
 * @example
 * ```ts
 * import type { Timings } from "qwen3guard";
 *
 * const timings: Timings = { totalMs: 120, queuedMs: 15, engineMs: 105 };
 * console.log(`${timings.engineMs} ms on the engine`);
 * ```
 */
export interface Timings {
  /** From the call to the verdict. */
  totalMs: number;
  /** Before evaluation: rendering, tokenizing, waiting for a free engine sequence, trimming its KV cache. */
  queuedMs: number;
  /** Evaluation and decoding on the engine. */
  engineMs: number;
}

/**
 * A Gen moderation verdict, as `GenGuard.moderate`, `moderatePrompt` and `moderateResponse` return it: the parsed
 * output plus P(tier), the strict and loose readings, token counts and timings. A policy's `decide` takes it as is.
 *
 * @example
 * ```ts
 * import { GenGuard, type Verdict } from "qwen3guard";
 *
 * const guard = await GenGuard.load({ model: "/models/Qwen3Guard-Gen-0.6B" });
 * const verdict: Verdict = await guard.moderatePrompt("How do I bake bread?");
 * console.log(verdict.tier, verdict.categories, verdict.probabilities?.Unsafe, verdict.unsafeStrict);
 * await guard.close();
 * ```
 */
export interface Verdict extends GenOutput {
  /**
   * P(tier) read from the next-token distribution after `Safety:` (undefined in reference mode, and on a remote
   * engine whose top-k log-probabilities left a tier out: then `probabilityBounds` holds what is known).
   */
  probabilities?: TierProbabilities;
  /** Set instead of `probabilities` when a remote engine's top k did not hold every tier's first token. */
  probabilityBounds?: TierProbabilityBounds;
  /** The remote engine that produced the verdict (guards with `remote` backends). */
  remote?: RemoteVerdictInfo;
  /** True when the tier is unsafe under strict mode (Controversial counts as Unsafe). */
  unsafeStrict: boolean;
  /** True when the tier is unsafe under loose mode (Controversial counts as Safe). */
  unsafeLoose: boolean;
  tokens?: TokenCounts;
  timings?: Timings;
}
