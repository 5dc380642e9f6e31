/**
 * Types of a resolved moderation policy and of the decisions it yields.
 * Pure data: no I/O, no engine.
 */
import type { Category, Direction, RiskTier, Strictness } from "../labels.js";
import type { TierProbabilities } from "../verdict.js";

/**
 * What a policy does with a verdict: let it pass, let it pass but record it, roll a streamed answer back to its last
 * cleared token and have the generator continue it under a safety instruction (responses; for a prompt it means
 * block), or stop it. In severity order.
 */
export const POLICY_ACTIONS = ["allow", "flag", "regenerate", "block"] as const;
export type PolicyAction = (typeof POLICY_ACTIONS)[number];

/** Severity order of actions: the most severe one wins when several rules apply. */
export function actionSeverity(action: PolicyAction): number {
  return POLICY_ACTIONS.indexOf(action);
}

/** The more severe of two actions (the first on ties). */
export function moreSevere(a: PolicyAction, b: PolicyAction): PolicyAction {
  return actionSeverity(b) > actionSeverity(a) ? b : a;
}

/** Per-tier actions; a missing tier falls through to the next, less specific layer. */
export type TierActions = Partial<Record<RiskTier, PolicyAction>>;

/** Which tier probabilities a threshold sums. */
export const THRESHOLD_MEASURES = ["unsafe", "controversial", "unsafe+controversial"] as const;
export type ThresholdMeasure = (typeof THRESHOLD_MEASURES)[number];

/** The actions a threshold can escalate to. */
export type ThresholdAction = Exclude<PolicyAction, "allow">;

/** Escalate to `action` when the measure (a sum of tier probabilities) is at least `atLeast`. */
export interface ThresholdRule {
  when: ThresholdMeasure;
  /** In [0, 1]. */
  atLeast: number;
  /** Thresholds only escalate, so `allow` is meaningless here. */
  action: ThresholdAction;
  /** When present, the rule only applies to verdicts that name one of these categories. */
  categories?: Category[];
  /** The policy file (or document id) the rule came from. */
  source?: string;
}

/** What a policy says for one direction. */
export interface DirectionPolicy {
  /** Applies to every category without its own rule, and to verdicts naming no category. */
  default: TierActions;
  /** Category-specific rules; they beat `default`. */
  categories: Partial<Record<Category, TierActions>>;
  /** Probability thresholds, inherited ones first. */
  thresholds: ThresholdRule[];
}

/** A policy after `extends` has been resolved. */
export interface Policy {
  name?: string;
  description?: string;
  /** strict: Controversial is treated as Unsafe; loose: as Safe (unless a rule names Controversial). */
  mode: Strictness;
  prompt: DirectionPolicy;
  response: DirectionPolicy;
  /** Documents that made this policy, most basic first (the root last). */
  sources: string[];
}

/**
 * The minimal verdict a policy can judge. A Gen `Verdict`/`GenOutput` fits as is; a Stream verdict
 * (one tier, one category) fits with `categories: [category]`.
 */
export interface PolicyInput {
  direction: Direction;
  tier: RiskTier;
  categories: readonly Category[];
  probabilities?: TierProbabilities;
}

/** Why a tier rule gave its action. */
export interface TierReason {
  kind: "tier";
  /** Path of the rule in the effective policy, e.g. `response.categories.PII.Unsafe`, or `builtin.Unsafe`. */
  rule: string;
  /** Which layer answered: a category rule, the direction's default, or the built-in table. */
  layer: "category" | "default" | "builtin";
  /** The category this evaluation was for (absent when the verdict names none). */
  category?: Category;
  /** The verdict's tier. */
  tier: RiskTier;
  /** The tier key that was read: differs from `tier` when the mode mapped Controversial. */
  matchedTier: RiskTier;
  action: PolicyAction;
  /** True when this reason produced the final action. */
  decisive: boolean;
  message: string;
}

/** Outcome of one threshold rule. */
export interface ThresholdReason {
  kind: "threshold";
  /** Path of the rule in the effective policy, e.g. `response.thresholds[0]`. */
  rule: string;
  when: ThresholdMeasure;
  threshold: number;
  /** The measured sum; absent when the verdict has no probabilities. */
  value?: number;
  status: "fired" | "below" | "no-probabilities" | "category-mismatch";
  /** The action the rule escalates to (only applied when `status` is `fired`). */
  action: ThresholdAction;
  categories?: Category[];
  source?: string;
  decisive: boolean;
  message: string;
}

export type DecisionReason = TierReason | ThresholdReason;

/** The result of applying a policy to a verdict, with its explanation as data. */
export interface Decision {
  action: PolicyAction;
  direction: Direction;
  tier: RiskTier;
  /** The tier as the policy's mode collapses it (strict: Controversial → Unsafe; loose: → Safe). */
  effectiveTier: "Safe" | "Unsafe";
  mode: Strictness;
  /** The category whose rule decided the action, when one did. */
  category?: Category;
  reasons: DecisionReason[];
}
