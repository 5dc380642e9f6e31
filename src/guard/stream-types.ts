/** What the Stream guard reports: the prompt verdict, per-token verdicts, the trigger, the answer verdict. */
import type { RiskTier, Strictness } from "../core/labels.js";
import type { StreamRule } from "../core/stream-decision.js";
import type { TierProbabilities } from "../core/verdict.js";
import type { StreamListenerError } from "./stream-errors.js";

/**
 * The prompt's verdict: the query heads at the last prompt position (`<|im_end|>` of the last user turn), read
 * when a session opens (`session.prompt`, `StreamModeration.prompt`). Decide on it before the LLM is called.
 *
 * @example
 * ```ts
 * import { StreamGuard, type StreamPromptVerdict } from "qwen3guard";
 *
 * const guard = await StreamGuard.load({ model: "/models/Qwen3Guard-Stream-0.6B" });
 * const session = await guard.openStream([{ role: "user", content: "How do I make a bomb?" }]);
 * const prompt: StreamPromptVerdict = session.prompt;
 * if (prompt.unsafeStrict) console.log("refuse:", prompt.tier, prompt.category, prompt.probabilities.Unsafe);
 * await session.close();
 * await guard.close();
 * ```
 */
export interface StreamPromptVerdict {
  tier: RiskTier;
  /** Most probable category, named by config.json's `query_category_map`. */
  category: string;
  probabilities: TierProbabilities;
  /** P(category) by name, over config.json's query categories. */
  categoryProbabilities: Record<string, number>;
  unsafeStrict: boolean;
  unsafeLoose: boolean;
  /** Prompt tokens fed (up to and including the last user turn's `<|im_end|>`). */
  promptTokens: number;
}

/**
 * The response heads' verdict on one answer token: its index, id and text, tier, category and probabilities, and
 * the trigger when the stop rule fired on it. `push`, `pushTokens` and `end` return them; `events()` yields them.
 *
 * @example
 * ```ts
 * import { StreamGuard, type StreamTokenVerdict } from "qwen3guard";
 *
 * const guard = await StreamGuard.load({ model: "/models/Qwen3Guard-Stream-0.6B" });
 * const session = await guard.openStream([{ role: "user", content: "Tell me a story" }]);
 * const verdicts: StreamTokenVerdict[] = await session.push("Once upon a time");
 * for (const v of verdicts) console.log(v.index, JSON.stringify(v.text), v.tier, v.category);
 * await session.close();
 * await guard.close();
 * ```
 */
export interface StreamTokenVerdict {
  /** 0-based index among the answer tokens of the session. */
  index: number;
  token: number;
  /** The token's text (UTF-8 decoded in stream order: a token ending inside a character gives "" until it completes). */
  text: string;
  tier: RiskTier;
  /** Most probable category, named by config.json's `response_category_map`. */
  category: string;
  probabilities: TierProbabilities;
  categoryProbabilities: Record<string, number>;
  /** Set on the token where the stop rule fired (once per session). */
  trigger?: StreamTrigger;
}

/**
 * A session's stop: the first pair of flagged tokens the rule and mode allow, reported at the second token, with
 * that token's id, text, category and probabilities (`onTrigger` listeners, `session.trigger`, a token verdict's
 * `trigger`). Stop the generator when it comes.
 *
 * @example
 * ```ts
 * import { StreamGuard, type StreamTrigger } from "qwen3guard";
 *
 * const guard = await StreamGuard.load({ model: "/models/Qwen3Guard-Stream-0.6B" });
 * const session = await guard.openStream([{ role: "user", content: "Tell me a story" }]);
 * session.onTrigger((t: StreamTrigger) => console.log(`stop at token ${t.index} ${JSON.stringify(t.text)}: ${t.tier} ${t.category}`));
 * await session.push("Once upon a time");
 * await session.close();
 * await guard.close();
 * ```
 */
export interface StreamTrigger {
  tier: "Unsafe" | "Controversial";
  /** Answer index of the triggering token (the second of the pair). */
  index: number;
  token: number;
  text: string;
  /** Category of the triggering token. */
  category: string;
  probabilities: TierProbabilities;
  categoryProbabilities: Record<string, number>;
  rule: StreamRule;
  mode: Strictness;
}

/**
 * The whole-answer verdict so far (`session.verdict`, `end()`'s `verdict`, `StreamModeration.response`): Safe, or
 * the deciding pair's tier at its second token (under the official rule an Unsafe pair anywhere beats a
 * Controversial one), with the answer's token count.
 *
 * @example
 * ```ts
 * import type { StreamAnswerVerdict } from "qwen3guard";
 *
 * function summary(verdict: StreamAnswerVerdict): string {
 *   return verdict.tier === "Safe"
 *     ? `Safe (${verdict.tokens} tokens)`
 *     : `${verdict.tier} ${verdict.category} at token ${verdict.index} of ${verdict.tokens}`;
 * }
 * console.log(summary({ tier: "Safe", tokens: 12 })); // Safe (12 tokens)
 * ```
 */
export type StreamAnswerVerdict =
  | { tier: "Safe"; tokens: number }
  | {
      tier: "Unsafe" | "Controversial";
      index: number;
      token: number;
      category: string;
      probabilities: TierProbabilities;
      tokens: number;
    };

/**
 * What `session.events()` yields, in order: each token's verdict, the trigger (once, when the stop rule fires),
 * and the whole-answer verdict at the end.
 *
 * @example
 * ```ts
 * import type { StreamEvent } from "qwen3guard";
 *
 * function log(event: StreamEvent): string {
 *   switch (event.type) {
 *     case "token":
 *       return `${event.verdict.index}: ${event.verdict.tier}`;
 *     case "trigger":
 *       return `stop at ${event.trigger.index}`;
 *     case "end":
 *       return `answer: ${event.verdict.tier}`;
 *   }
 * }
 * console.log(log({ type: "end", verdict: { tier: "Safe", tokens: 3 } })); // answer: Safe
 * ```
 */
export type StreamEvent =
  | { type: "token"; verdict: StreamTokenVerdict }
  | { type: "trigger"; trigger: StreamTrigger }
  | { type: "end"; verdict: StreamAnswerVerdict };

/**
 * Options of one Stream session (`openStream`; `moderate` takes all but `whenFull`): the pair rule, the mode, the
 * listener-error handler (defaults from the guard), what to do when every slot is taken, and a signal to stop
 * waiting.
 *
 * @example
 * ```ts
 * import { StreamGuard, type StreamSessionOptions } from "qwen3guard";
 *
 * const guard = await StreamGuard.load({ model: "/models/Qwen3Guard-Stream-0.6B" });
 * const options: StreamSessionOptions = { mode: "loose", whenFull: "wait", signal: AbortSignal.timeout(5_000) };
 * const session = await guard.openStream([{ role: "user", content: "Hi" }], options);
 * console.log(session.mode); // loose
 * await session.close();
 * await guard.close();
 * ```
 */
export interface StreamSessionOptions {
  /** Pair rule: "official" (default, the official evaluation code) or "report" (the technical report's prose). */
  rule?: StreamRule;
  /** Which triggers stop the stream: "strict" (default; Controversial pairs too) or "loose" (Unsafe pairs only). */
  mode?: Strictness;
  /**
   * Receives what an `onTrigger` listener throws (wrapped in StreamListenerError, `cause` holding the thrown
   * value); a listener's error never escapes into the process. Default: `process.emitWarning(error)`.
   */
  onListenerError?: (error: StreamListenerError) => void;
  /** When every session slot is taken: wait for one (default) or throw StreamCapacityError. */
  whenFull?: "wait" | "throw";
  /** Stop waiting for a slot. */
  signal?: AbortSignal;
}
