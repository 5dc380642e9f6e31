/** Typed verdicts produced by the Gen and Stream paths. */
import type { Category, Direction, RefusalLabel, RiskTier } from "./labels.js";

/** Probability of each tier (sums to 1 over the three tiers when the engine provides them). */
export type TierProbabilities = Record<RiskTier, number>;

/**
 * Tier probabilities a remote engine's top-k log-probabilities could only bound: the first token of at least one
 * tier was not among the k most probable tokens after `Safety:`, so its probability is known only to be at most
 * the k-th's. Each tier's probability, renormalised over the three tiers as `Verdict.probabilities` would be, lies
 * in `[min[tier], max[tier]]`. No number is made up for a tier outside the top k.
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

/** Which remote engine produced a verdict (guards loaded with `remote` backends). */
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
