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
 *
 * @example
 * ```ts
 * import { POLICY_ACTIONS } from "qwen3guard";
 *
 * console.log(POLICY_ACTIONS.indexOf("block") > POLICY_ACTIONS.indexOf("flag")); // true: block is more severe
 * ```
 */
export const POLICY_ACTIONS = ["allow", "flag", "regenerate", "block"] as const;

/**
 * One of {@link POLICY_ACTIONS}: `allow`, `flag`, `regenerate` or `block` (`decision.action`).
 *
 * @example
 * ```ts
 * import { decide, type PolicyAction } from "qwen3guard";
 * import { emptyPolicy } from "qwen3guard/core";
 *
 * const action: PolicyAction = decide(emptyPolicy(), { direction: "prompt", tier: "Unsafe", categories: [] }).action;
 * console.log(action); // block
 * ```
 */
export type PolicyAction = (typeof POLICY_ACTIONS)[number];

/** Severity order of actions: the most severe one wins when several rules apply. */
export function actionSeverity(action: PolicyAction): number {
  return POLICY_ACTIONS.indexOf(action);
}

/** The more severe of two actions (the first on ties). */
export function moreSevere(a: PolicyAction, b: PolicyAction): PolicyAction {
  return actionSeverity(b) > actionSeverity(a) ? b : a;
}

/**
 * Per-tier actions of a policy layer (a category rule, a direction's default); a missing tier falls through to the
 * next, less specific layer.
 *
 * @example
 * ```ts
 * import type { TierActions } from "qwen3guard";
 *
 * const violent: TierActions = { Unsafe: "block", Controversial: "flag" }; // Safe falls through
 * console.log(violent.Controversial);
 * ```
 */
export type TierActions = Partial<Record<RiskTier, PolicyAction>>;

/**
 * The measures a threshold can read: which tier probabilities it sums.
 *
 * @example
 * ```ts
 * import { THRESHOLD_MEASURES } from "qwen3guard/core";
 *
 * console.log(THRESHOLD_MEASURES.join(" | ")); // unsafe | controversial | unsafe+controversial
 * ```
 */
export const THRESHOLD_MEASURES = ["unsafe", "controversial", "unsafe+controversial"] as const;

/**
 * Which tier probabilities a threshold sums: `unsafe`, `controversial` or `unsafe+controversial`.
 *
 * @example
 * ```ts
 * import type { ThresholdMeasure } from "qwen3guard";
 *
 * const when: ThresholdMeasure = "unsafe+controversial"; // P(Unsafe) + P(Controversial)
 * console.log(when);
 * ```
 */
export type ThresholdMeasure = (typeof THRESHOLD_MEASURES)[number];

/**
 * The actions a threshold can escalate to (thresholds only escalate, so not `allow`).
 *
 * @example
 * ```ts
 * import type { ThresholdAction } from "qwen3guard";
 *
 * const action: ThresholdAction = "flag";
 * console.log(action);
 * ```
 */
export type ThresholdAction = Exclude<PolicyAction, "allow">;

/**
 * A probability threshold of a policy: escalate to `action` when the measure (a sum of tier probabilities) is at
 * least `atLeast`, optionally only for verdicts naming some categories (`policy.prompt.thresholds`).
 *
 * @example
 * ```ts
 * import type { ThresholdRule } from "qwen3guard";
 *
 * const rule: ThresholdRule = { when: "unsafe", atLeast: 0.3, action: "flag", categories: ["PII"] };
 * console.log(rule.atLeast);
 * ```
 */
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

/**
 * What a policy says for one direction (`policy.prompt`, `policy.response`): the default tier actions, the
 * category rules that beat them, and the thresholds.
 *
 * @example
 * ```ts
 * import type { DirectionPolicy } from "qwen3guard";
 *
 * const response: DirectionPolicy = {
 *   default: { Controversial: "allow" },
 *   categories: { PII: { Unsafe: "regenerate" } },
 *   thresholds: [{ when: "unsafe", atLeast: 0.5, action: "flag" }],
 * };
 * console.log(Object.keys(response.categories)); // ["PII"]
 * ```
 */
export interface DirectionPolicy {
  /** Applies to every category without its own rule, and to verdicts naming no category. */
  default: TierActions;
  /** Category-specific rules; they beat `default`. */
  categories: Partial<Record<Category, TierActions>>;
  /** Probability thresholds, inherited ones first. */
  thresholds: ThresholdRule[];
}

/**
 * A moderation policy, resolved (its `extends` applied): the mode, and per direction the tier actions, category
 * rules and thresholds. Get one with `loadPolicy` / `loadPolicyFile` (a YAML or JSON file) or a `PolicyRegistry`;
 * apply it with `decide`, `moderateTextStream` or the AI SDK middleware. See docs/policies.md.
 *
 * @example
 * ```ts
 * import fs from "node:fs";
 * import { decide, loadPolicyFile, type Policy } from "qwen3guard";
 *
 * fs.writeFileSync("/tmp/policy.yaml", "mode: loose\nresponse:\n  categories:\n    PII: allow\n");
 * const policy: Policy = await loadPolicyFile("/tmp/policy.yaml");
 * console.log(policy.mode, decide(policy, { direction: "response", tier: "Unsafe", categories: ["PII"] }).action); // loose allow
 * ```
 */
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
 * (one tier, one category) fits with `categories: [category]`. Validate untyped input with `parsePolicyInput`.
 *
 * @example
 * ```ts
 * import { decide, type PolicyInput } from "qwen3guard";
 * import { emptyPolicy } from "qwen3guard/core";
 *
 * const input: PolicyInput = {
 *   direction: "response",
 *   tier: "Controversial",
 *   categories: ["Violent"],
 *   probabilities: { Safe: 0.2, Unsafe: 0.1, Controversial: 0.7 },
 * };
 * console.log(decide(emptyPolicy(), input).action); // block (strict: Controversial reads as Unsafe)
 * ```
 */
export interface PolicyInput {
  direction: Direction;
  tier: RiskTier;
  categories: readonly Category[];
  probabilities?: TierProbabilities;
}

/**
 * Why a tier rule gave its action: one entry of `decision.reasons` per category evaluated (`kind: "tier"`).
 *
 * @example
 * ```ts
 * import { decide, type TierReason } from "qwen3guard";
 * import { emptyPolicy } from "qwen3guard/core";
 *
 * const decision = decide(emptyPolicy(), { direction: "prompt", tier: "Unsafe", categories: ["Violent"] });
 * const reason = decision.reasons.find((r): r is TierReason => r.kind === "tier");
 * console.log(reason?.rule, reason?.layer); // builtin.Unsafe builtin
 * ```
 */
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

/**
 * The outcome of one threshold rule: one entry of `decision.reasons` per threshold (`kind: "threshold"`), fired or
 * not, with the measured value.
 *
 * @example
 * ```ts
 * import { decide, type Policy, type ThresholdReason } from "qwen3guard";
 * import { emptyPolicy } from "qwen3guard/core";
 *
 * const base = emptyPolicy();
 * const policy: Policy = { ...base, response: { ...base.response, thresholds: [{ when: "unsafe", atLeast: 0.2, action: "flag" }] } };
 * const probabilities = { Safe: 0.7, Unsafe: 0.25, Controversial: 0.05 };
 * const decision = decide(policy, { direction: "response", tier: "Safe", categories: [], probabilities });
 * const reason = decision.reasons.find((r): r is ThresholdReason => r.kind === "threshold");
 * console.log(decision.action, reason?.status, reason?.value); // flag fired 0.25
 * ```
 */
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

/**
 * One reason of a decision: a tier rule's ({@link TierReason}) or a threshold's ({@link ThresholdReason}); `decisive`
 * marks those that produced the action, `message` says it in words.
 *
 * @example
 * ```ts
 * import { decide, type DecisionReason } from "qwen3guard";
 * import { emptyPolicy } from "qwen3guard/core";
 *
 * const reasons: DecisionReason[] = decide(emptyPolicy(), { direction: "prompt", tier: "Safe", categories: [] }).reasons;
 * for (const r of reasons) console.log(r.decisive ? "*" : " ", r.message); // * no rule in the policy; built-in: Safe → allow (builtin.Safe)
 * ```
 */
export type DecisionReason = TierReason | ThresholdReason;

/**
 * The result of applying a policy to a verdict (`decide`, `PolicyRegistry.decide`, the moderated stream's
 * decisions): the action, the tier as the mode reads it, the deciding category, and every reason as data.
 *
 * @example
 * ```ts
 * import { decide, type Decision } from "qwen3guard";
 * import { emptyPolicy } from "qwen3guard/core";
 *
 * const decision: Decision = decide(emptyPolicy(), { direction: "response", tier: "Unsafe", categories: ["PII"] });
 * console.log(decision.action, decision.effectiveTier, decision.category); // block Unsafe PII
 * ```
 */
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
