/** What the Stream guard reports: the prompt verdict, per-token verdicts, the trigger, the answer verdict. */
import type { RiskTier, Strictness } from "../core/labels.js";
import type { StreamRule } from "../core/stream-decision.js";
import type { TierProbabilities } from "../core/verdict.js";
import type { StreamListenerError } from "./stream-errors.js";

/** Query heads at the last prompt position (`<|im_end|>` of the last user turn). */
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

/** Response heads at one answer token. */
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

/** The stop: the first pair of flagged tokens the rule and mode allow, reported at the second token. */
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

/** The whole-answer verdict so far (StreamTracker.final(): an Unsafe pair anywhere beats a Controversial one under the official rule). */
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

export type StreamEvent =
  | { type: "token"; verdict: StreamTokenVerdict }
  | { type: "trigger"; trigger: StreamTrigger }
  | { type: "end"; verdict: StreamAnswerVerdict };

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
