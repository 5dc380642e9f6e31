/**
 * Replaying the per-token verdicts of a Stream answer after the fact, for another rule or mode, without running the
 * model again: every pair the rule forms, where a live stream stops (`streamStop`), the whole-answer verdict
 * (`streamVerdict`) and what a client of the moderating proxy receives (the hold-back rule of `moderateTextStream`,
 * docs/server.md "What is held back"). Pure: the playground page runs it in the browser on the verdicts a WebSocket
 * session sent.
 *
 * The proxy's rule, in tokens: every pair the rule forms is judged by the policy (the pair's tier, its second
 * token's category and probabilities); the first pair whose action is block or regenerate stops the answer, and the
 * client has received every token before the pair's first token. While the answer streams, a token whose tier can
 * start a pair the policy could stop on (`heldTiers`) waits for the next token's verdict; every other token is sent
 * at once with everything before it.
 */
import type { RiskTier, Strictness } from "./labels.js";
import type { PolicyAction, PolicyInput } from "./policy/types.js";
import { pairTrigger, streamStop, streamVerdict, type StreamRule } from "./stream-decision.js";
import type { TierProbabilities } from "./verdict.js";

/** What a replay needs of one answer token's verdict (a WebSocket `token` frame's verdict fits). */
export interface ReplayToken {
  tier: RiskTier;
  category?: string;
  probabilities?: TierProbabilities;
}

/** A pair of consecutive flagged tokens, at its second token. */
export interface ReplayPair {
  /** Index of the pair's second token (the first is `index - 1`). */
  index: number;
  tier: "Unsafe" | "Controversial";
}

/** Every pair of consecutive tokens the rule forms, in order, each at its second token. */
export function streamPairs(tokens: readonly ReplayToken[], rule: StreamRule = "official"): ReplayPair[] {
  const pairs: ReplayPair[] = [];
  for (let i = 1; i < tokens.length; i++) {
    const tier = pairTrigger(tokens[i - 1]!.tier, tokens[i]!.tier, rule);
    if (tier !== undefined) pairs.push({ index: i, tier });
  }
  return pairs;
}

/**
 * The verdict a policy judges for a pair, as the proxy builds it: the pair's tier, its second token's category and
 * probabilities.
 */
export function pairVerdict(tokens: readonly ReplayToken[], pair: ReplayPair): PolicyInput {
  const token = tokens[pair.index]!;
  return {
    direction: "response",
    tier: pair.tier,
    categories: token.category === undefined ? [] : [token.category as PolicyInput["categories"][number]],
    ...(token.probabilities === undefined ? {} : { probabilities: token.probabilities }),
  };
}

/** What the moderating proxy makes of an answer. */
export interface ProxyReplay {
  /** The first pair the policy stops on (block or regenerate), with that action. */
  stop?: ReplayPair & { action: PolicyAction };
  /** Answer tokens the client received: all of them, or those before the first token of the stopping pair. */
  delivered: number;
}

/**
 * What a client of the proxy receives for an answer: `actionOf` is the policy's action for a pair's verdict
 * (`decide(policy, pairVerdict(tokens, pair)).action`).
 */
export function replayProxy(
  tokens: readonly ReplayToken[],
  rule: StreamRule,
  actionOf: (verdict: PolicyInput, pair: ReplayPair) => PolicyAction,
): ProxyReplay {
  for (const pair of streamPairs(tokens, rule)) {
    const action = actionOf(pairVerdict(tokens, pair), pair);
    if (action === "block" || action === "regenerate") {
      return { stop: { ...pair, action }, delivered: pair.index - 1 };
    }
  }
  return { delivered: tokens.length };
}

/**
 * Answer tokens a client of the proxy has received while the answer is still streaming (no stop yet): all but the
 * last one when its tier is held (it waits for the next token's verdict).
 */
export function clearedWhileStreaming(tokens: readonly ReplayToken[], held: readonly RiskTier[]): number {
  const last = tokens[tokens.length - 1];
  return last !== undefined && held.includes(last.tier) ? tokens.length - 1 : tokens.length;
}

/** Everything a view of an answer shows for one rule and mode. */
export interface StreamReplay {
  rule: StreamRule;
  mode: Strictness;
  /** Every pair the rule forms. */
  pairs: ReplayPair[];
  /** Where a live session stops under the rule and mode (its `trigger`), at the pair's second token. */
  stop?: ReplayPair;
  /** The whole-answer verdict under the rule (the mode does not change it). */
  verdict: { tier: "Safe" } | (ReplayPair & { category?: string });
}

/** The pairs, the stop and the whole-answer verdict of an answer under a rule and mode. */
export function replayStream(
  tokens: readonly ReplayToken[],
  rule: StreamRule = "official",
  mode: Strictness = "strict",
): StreamReplay {
  const labels = tokens.map((t) => t.tier);
  const categories = tokens.map((t) => t.category);
  const stop = streamStop(labels, categories, { rule, mode });
  const verdict = streamVerdict(labels, categories, { rule });
  return {
    rule,
    mode,
    pairs: streamPairs(tokens, rule),
    ...(stop === undefined ? {} : { stop: { index: stop.index, tier: stop.tier } }),
    verdict:
      verdict.tier === "Safe"
        ? { tier: "Safe" }
        : {
            index: verdict.index,
            tier: verdict.tier,
            ...(verdict.category === undefined ? {} : { category: verdict.category }),
          },
  };
}
