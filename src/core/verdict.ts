/** Typed verdicts produced by the Gen and Stream paths. */
import type { Category, Direction, RefusalLabel, RiskTier } from "./labels.js";

/** Probability of each tier (sums to 1 over the three tiers when the engine provides them). */
export type TierProbabilities = Record<RiskTier, number>;

/** What a Gen model said, parsed from its text output. */
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

export interface Timings {
  /** From the call to the verdict. */
  totalMs: number;
  /** Before evaluation: rendering, tokenizing, waiting for a free engine sequence, trimming its KV cache. */
  queuedMs: number;
  /** Evaluation and decoding on the engine. */
  engineMs: number;
}

/** A full moderation verdict, as the guard API returns it. */
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
