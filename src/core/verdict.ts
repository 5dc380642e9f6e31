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
  /** P(tier) read from the next-token distribution after `Safety:` (undefined in reference mode). */
  probabilities?: TierProbabilities;
  /** True when the tier is unsafe under strict mode (Controversial counts as Unsafe). */
  unsafeStrict: boolean;
  /** True when the tier is unsafe under loose mode (Controversial counts as Safe). */
  unsafeLoose: boolean;
  tokens?: TokenCounts;
  timings?: Timings;
}
