/**
 * Tier probabilities from what a remote engine reports at the position after `Safety:`: the log-probabilities
 * of the three tiers' first tokens when it reports them (SGLang's `token_ids_logprob`, vLLM's
 * `logprob_token_ids`, qwen3guard), else its top k. A tier whose first token is outside the top k has a raw
 * probability of at most the k-th's, and that bound is what is reported — never a made-up number.
 *
 * Engines that apply the format constraint before computing log-probabilities report them renormalised over the
 * allowed tokens; the ratios between the three tier tokens are the model's either way, so the probabilities
 * renormalised over the three tiers (what the embedded decoder reports) are the same, and so are the bounds.
 */
import { RISK_TIERS, type RiskTier } from "../../core/labels.js";
import type { TierProbabilities, TierProbabilityBounds } from "../../core/verdict.js";

/** What the engine said about the first output position. */
export interface FirstPositionLogprobs {
  /** Log-probability of each tier's first token, where the engine reported it. */
  tiers: Partial<Record<RiskTier, number>>;
  /**
   * The top-k log-probabilities the engine returned there (any order; the sampled token may be among them even
   * when it is not in the top k), and the k asked for. Absent when the engine reported the tier tokens
   * themselves (then every tier is in `tiers`).
   */
  topK?: { logprobs: readonly number[]; k: number };
}

export type TierReading =
  | { kind: "exact"; probabilities: TierProbabilities; tierMass: number; chosen: RiskTier }
  | { kind: "bounded"; bounds: TierProbabilityBounds; chosen: RiskTier | undefined };

/** The bound a top-k list puts on every token outside it: the k-th largest probability. */
export function kthProbability(logprobs: readonly number[], k: number): number {
  if (logprobs.length === 0) return 1;
  const sorted = [...logprobs].sort((a, b) => b - a);
  // More than k entries: the sampled token was added below the top k; fewer: the engine returned every token
  // it considers possible, so the smallest bounds the others.
  return Math.exp(sorted[Math.min(k, sorted.length) - 1]!);
}

/**
 * The three tiers' probabilities renormalised over the tiers, exact when every tier token was reported, else as
 * bounds; `chosen` is the most probable reported tier (undefined when none was reported), ties going to the first
 * in Safe, Unsafe, Controversial order as in the embedded decoder.
 */
export function readTierProbabilities(first: FirstPositionLogprobs): TierReading {
  const raw = RISK_TIERS.map((t) => {
    const lp = first.tiers[t];
    return lp === undefined ? undefined : Math.exp(lp);
  });
  let chosen: RiskTier | undefined;
  let best = -Infinity;
  raw.forEach((p, i) => {
    if (p !== undefined && p > best) {
      best = p;
      chosen = RISK_TIERS[i];
    }
  });
  const known = raw.reduce<number>((sum, p) => sum + (p ?? 0), 0);
  const missing = RISK_TIERS.filter((_, i) => raw[i] === undefined);
  if (missing.length === 0) {
    const probabilities = Object.fromEntries(
      RISK_TIERS.map((t, i) => [t, known > 0 ? raw[i]! / known : 1 / RISK_TIERS.length]),
    ) as TierProbabilities;
    return { kind: "exact", probabilities, tierMass: known, chosen: chosen! };
  }
  const k = first.topK?.k ?? 0;
  const bound = first.topK ? kthProbability(first.topK.logprobs, first.topK.k) : 1;
  const clamp = (x: number) => Math.min(1, Math.max(0, x));
  const min = {} as Record<RiskTier, number>;
  const max = {} as Record<RiskTier, number>;
  RISK_TIERS.forEach((t, i) => {
    const p = raw[i];
    if (p === undefined) {
      min[t] = 0;
      max[t] = known + bound > 0 ? clamp(bound / (known + bound)) : 1;
    } else {
      const low = known + missing.length * bound;
      min[t] = low > 0 ? clamp(p / low) : 0;
      max[t] = known > 0 ? clamp(p / known) : 1;
    }
  });
  return {
    kind: "bounded",
    bounds: { min, max, outsideTopK: missing, k, kthProbability: bound },
    chosen,
  };
}
