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

/**
 * What a replay needs of one answer token's verdict: its tier, and its category and P(tier) when known. A
 * `StreamTokenVerdict` of a Stream session fits, and so does a WebSocket `token` frame's verdict.
 *
 * @example
 * ```ts
 * import { replayStream, type ReplayToken } from "qwen3guard/core";
 *
 * const tokens: ReplayToken[] = [{ tier: "Safe" }, { tier: "Unsafe", category: "Violent" }, { tier: "Unsafe", category: "Violent" }];
 * console.log(replayStream(tokens).verdict); // { index: 2, tier: "Unsafe", category: "Violent" }
 * ```
 */
export interface ReplayToken {
  tier: RiskTier;
  category?: string;
  probabilities?: TierProbabilities;
}

/**
 * A pair of consecutive flagged tokens that the pair rule triggers on, at its second token.
 *
 * @example
 * ```ts
 * import { streamPairs, type ReplayPair } from "qwen3guard/core";
 *
 * const pairs: ReplayPair[] = streamPairs([{ tier: "Controversial" }, { tier: "Controversial" }]);
 * console.log(pairs); // [{ index: 1, tier: "Controversial" }]: tokens 0 and 1
 * ```
 */
export interface ReplayPair {
  /** Index of the pair's second token (the first is `index - 1`). */
  index: number;
  tier: "Unsafe" | "Controversial";
}

/**
 * Every pair of consecutive tokens the rule (default `official`) triggers on, in order, each at its second token.
 * Where a live stream stops is one of them (`replayStream`'s `stop`); a policy may stop on any of them
 * (`replayProxy`).
 *
 * @example
 * ```ts
 * import { streamPairs } from "qwen3guard/core";
 *
 * const tokens = [{ tier: "Safe" }, { tier: "Controversial" }, { tier: "Unsafe" }, { tier: "Unsafe" }] as const;
 * console.log(streamPairs(tokens)); // [{ index: 3, tier: "Unsafe" }]
 * console.log(streamPairs(tokens, "report")); // [{ index: 2, tier: "Unsafe" }, { index: 3, tier: "Unsafe" }]
 * ```
 */
export function streamPairs(tokens: readonly ReplayToken[], rule: StreamRule = "official"): ReplayPair[] {
  const pairs: ReplayPair[] = [];
  for (let i = 1; i < tokens.length; i++) {
    const tier = pairTrigger(tokens[i - 1]!.tier, tokens[i]!.tier, rule);
    if (tier !== undefined) pairs.push({ index: i, tier });
  }
  return pairs;
}

/**
 * The verdict a policy judges for a pair, as the moderating proxy builds it: a response verdict with the pair's
 * tier, its second token's category and probabilities. Give it to `decide`.
 *
 * @example
 * ```ts
 * import { decide, emptyPolicy, pairVerdict, streamPairs } from "qwen3guard/core";
 *
 * const tokens = [{ tier: "Unsafe", category: "Violent" }, { tier: "Unsafe", category: "Violent" }] as const;
 * const verdict = pairVerdict(tokens, streamPairs(tokens)[0]!);
 * console.log(verdict, decide(emptyPolicy(), verdict).action); // { direction: "response", tier: "Unsafe", categories: ["Violent"] } block
 * ```
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

/**
 * What the moderating proxy (and `moderateTextStream`) makes of a finished answer: where a policy stops it, and how
 * many answer tokens its client received.
 *
 * @example
 * ```ts
 * import { replayProxy, type ProxyReplay } from "qwen3guard/core";
 *
 * const tokens = [{ tier: "Safe" }, { tier: "Unsafe" }, { tier: "Unsafe" }] as const;
 * const replay: ProxyReplay = replayProxy(tokens, "official", () => "flag"); // a policy that never stops
 * console.log(replay); // { delivered: 3 }
 * ```
 */
export interface ProxyReplay {
  /** The first pair the policy stops on (block or regenerate), with that action. */
  stop?: ReplayPair & { action: PolicyAction };
  /** Answer tokens the client received: all of them, or those before the first token of the stopping pair. */
  delivered: number;
}

/**
 * What a client of the moderating proxy receives for an answer, judged again without the model: the first pair
 * (under `rule`) whose action is block or regenerate stops the answer before the pair's first token. `actionOf`
 * gives the policy's action for a pair's verdict, usually `decide(policy, verdict).action`.
 *
 * @example
 * ```ts
 * import { decide, emptyPolicy, replayProxy } from "qwen3guard/core";
 *
 * const policy = emptyPolicy(); // the built-in table: block Unsafe and Controversial
 * const tokens = [{ tier: "Safe" }, { tier: "Safe" }, { tier: "Unsafe" }, { tier: "Unsafe" }] as const;
 * console.log(replayProxy(tokens, "official", (verdict) => decide(policy, verdict).action));
 * // { stop: { index: 3, tier: "Unsafe", action: "block" }, delivered: 2 }: the client got tokens 0 and 1
 * ```
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
 * Answer tokens a client of the moderating proxy has received while the answer is still streaming (no stop yet):
 * all but the last one when its tier is held (it waits for the next token's verdict). `held` is the policy's
 * `heldTiers` (exported by `qwen3guard`).
 *
 * @example
 * ```ts
 * import { clearedWhileStreaming } from "qwen3guard/core";
 *
 * const held = ["Unsafe", "Controversial"] as const; // heldTiers of the built-in table, strict
 * console.log(clearedWhileStreaming([{ tier: "Safe" }, { tier: "Controversial" }], held)); // 1: the second waits
 * console.log(clearedWhileStreaming([{ tier: "Safe" }, { tier: "Safe" }], held)); // 2
 * ```
 */
export function clearedWhileStreaming(tokens: readonly ReplayToken[], held: readonly RiskTier[]): number {
  const last = tokens[tokens.length - 1];
  return last !== undefined && held.includes(last.tier) ? tokens.length - 1 : tokens.length;
}

/**
 * An answer's verdicts seen under one rule and mode: every pair, where a live session stops, and the whole-answer
 * verdict.
 *
 * @example
 * ```ts
 * import { replayStream, type StreamReplay } from "qwen3guard/core";
 *
 * const replay: StreamReplay = replayStream([{ tier: "Controversial" }, { tier: "Controversial" }], "official", "loose");
 * console.log(replay.stop, replay.verdict.tier); // undefined Controversial: loose stops on Unsafe pairs only
 * ```
 */
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

/**
 * The pairs, the stop and the whole-answer verdict of an answer under a rule (default `official`) and mode (default
 * `strict`), from its per-token verdicts: the same stop (`trigger`) and verdict a Stream session with that rule and
 * mode gives, without running the model again. Replay one session's tokens under every rule and mode to compare
 * them.
 *
 * @example
 * ```ts
 * import { replayStream } from "qwen3guard/core";
 *
 * const tokens = [{ tier: "Safe" }, { tier: "Controversial" }, { tier: "Unsafe", category: "Violent" }, { tier: "Unsafe", category: "Violent" }] as const;
 * const report = replayStream(tokens, "report", "loose");
 * console.log(report.stop, report.verdict); // { index: 3, tier: "Unsafe" } { index: 2, tier: "Unsafe", category: "Violent" }
 * console.log(replayStream(tokens).verdict.tier); // Unsafe (official: tokens 2 and 3)
 * ```
 */
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
