/**
 * Applying a policy to a verdict: an action plus the reasons, as data.
 *
 * Precedence (documented in docs/policies.md):
 * 1. For each category the verdict names (or once with no category when it names none), the tier
 *    action comes from the most specific layer that answers: the category rule, then the direction's
 *    `default`, then the built-in table (Safe → allow, Unsafe → block).
 *    Within a layer, the verdict's own tier is read first; a Controversial verdict whose layer does not
 *    name Controversial reads the tier the mode maps it to (strict → Unsafe, loose → Safe).
 * 2. Several categories: the most severe action wins (block > regenerate > flag > allow).
 * 3. Thresholds only escalate: a fired threshold can raise allow → flag → regenerate → block, never lower.
 * 4. `regenerate` on a prompt means block (only an answer can be rolled back and continued).
 */
import { binaryTier, categoriesFor } from "../labels.js";
import type { Category, Direction, RiskTier, Strictness } from "../labels.js";
import type { TierProbabilities } from "../verdict.js";
import { formatPath } from "./errors.js";
import { moreSevere } from "./types.js";
import type {
  Decision,
  DecisionReason,
  Policy,
  PolicyAction,
  PolicyInput,
  ThresholdMeasure,
  ThresholdReason,
  ThresholdRule,
  TierActions,
  TierReason,
} from "./types.js";

/** The table that applies when no rule answers: the model's own verdict under the mode. */
const BUILTIN: Record<"Safe" | "Unsafe", PolicyAction> = { Safe: "allow", Unsafe: "block" };

/** Tolerance for comparing sums of probabilities against a threshold (0.7 + 0.2 ≥ 0.9 must hold). */
const EPSILON = 1e-9;

const MEASURE_LABEL: Record<ThresholdMeasure, string> = {
  unsafe: "P(Unsafe)",
  controversial: "P(Controversial)",
  "unsafe+controversial": "P(Unsafe)+P(Controversial)",
};

/** The sum of tier probabilities a threshold measure reads. */
export function measure(probabilities: TierProbabilities, what: ThresholdMeasure): number {
  switch (what) {
    case "unsafe":
      return probabilities.Unsafe;
    case "controversial":
      return probabilities.Controversial;
    case "unsafe+controversial":
      return probabilities.Unsafe + probabilities.Controversial;
  }
}

function modeNote(tier: RiskTier, matched: RiskTier, mode: Strictness): string {
  return tier === matched ? tier : `${tier} (read as ${matched} in ${mode} mode)`;
}

/** The tier action for one category (or none) of a verdict, with the reason. */
export function tierAction(
  policy: Policy,
  direction: Direction,
  tier: RiskTier,
  category?: Category,
): Omit<TierReason, "decisive"> {
  const mapped = binaryTier(tier, policy.mode);
  const layers: {
    layer: "category" | "default";
    path: (string | number)[];
    table: TierActions | undefined;
  }[] = [
    ...(category === undefined
      ? []
      : [
          {
            layer: "category" as const,
            path: [direction, "categories", category],
            table: policy[direction].categories[category],
          },
        ]),
    { layer: "default", path: [direction, "default"], table: policy[direction].default },
  ];
  const base = { kind: "tier" as const, tier, ...(category === undefined ? {} : { category }) };
  for (const { layer, path, table } of layers) {
    if (table === undefined) continue;
    for (const key of tier === "Controversial" ? [tier, mapped] : [tier]) {
      const action = table[key];
      if (action === undefined) continue;
      const rule = formatPath([...path, key]);
      const who = layer === "category" ? `category rule ${category}` : `${direction} default`;
      return {
        ...base,
        rule,
        layer,
        matchedTier: key,
        action,
        message: `${who}: ${modeNote(tier, key, policy.mode)} → ${action} (${rule})`,
      };
    }
  }
  const action = BUILTIN[mapped];
  const rule = `builtin.${mapped}`;
  return {
    ...base,
    rule,
    layer: "builtin",
    matchedTier: mapped,
    action,
    message: `no rule in the policy; built-in: ${modeNote(tier, mapped, policy.mode)} → ${action} (${rule})`,
  };
}

function thresholdReason(
  rule: ThresholdRule,
  path: string,
  input: PolicyInput,
): Omit<ThresholdReason, "decisive"> {
  const what = `${MEASURE_LABEL[rule.when]} ≥ ${rule.atLeast} → ${rule.action}`;
  const from = rule.source === undefined || rule.source === "" ? path : `${path}, from ${rule.source}`;
  const base = {
    kind: "threshold" as const,
    rule: path,
    when: rule.when,
    threshold: rule.atLeast,
    action: rule.action,
    ...(rule.categories === undefined ? {} : { categories: rule.categories }),
    ...(rule.source === undefined ? {} : { source: rule.source }),
  };
  if (rule.categories !== undefined && !rule.categories.some((c) => input.categories.includes(c))) {
    return {
      ...base,
      status: "category-mismatch",
      message: `threshold ${what}: applies only to ${rule.categories.join(", ")}; the verdict names none of them (${from})`,
    };
  }
  if (input.probabilities === undefined) {
    return {
      ...base,
      status: "no-probabilities",
      message: `threshold ${what}: cannot fire, the verdict carries no tier probabilities (${from})`,
    };
  }
  const value = measure(input.probabilities, rule.when);
  const fired = value + EPSILON >= rule.atLeast;
  const shown = Number(value.toFixed(4));
  return {
    ...base,
    value,
    status: fired ? "fired" : "below",
    message: fired
      ? `threshold fired: ${MEASURE_LABEL[rule.when]} = ${shown} ≥ ${rule.atLeast} → ${rule.action} (${from})`
      : `threshold not fired: ${MEASURE_LABEL[rule.when]} = ${shown} < ${rule.atLeast} (${from})`,
  };
}

/**
 * Apply a policy to a verdict: the action, and every rule consulted with what it said (precedence:
 * docs/policies.md). A Gen `Verdict` is a PolicyInput as is; a Stream verdict is one with `categories: [category]`.
 *
 * @example
 * ```ts
 * import fs from "node:fs";
 * import { decide, loadPolicyFile } from "qwen3guard";
 *
 * fs.writeFileSync("/tmp/chat.yaml", "mode: loose\nprompt:\n  categories:\n    Jailbreak: block\n");
 * const policy = await loadPolicyFile("/tmp/chat.yaml");
 * const decision = decide(policy, { direction: "prompt", tier: "Controversial", categories: ["Jailbreak"] });
 * console.log(decision.action, decision.reasons.find((r) => r.decisive)?.message); // block category rule Jailbreak: Controversial → block (prompt.categories.Jailbreak.Controversial)
 * ```
 */
export function decide(policy: Policy, input: PolicyInput): Decision {
  const { direction, tier } = input;
  const categories: (Category | undefined)[] =
    input.categories.length > 0 ? [...new Set(input.categories)] : [undefined];
  const tierReasons = categories.map((c) => tierAction(policy, direction, tier, c));
  const thresholdReasons = policy[direction].thresholds.map((rule, i) =>
    thresholdReason(rule, formatPath([direction, "thresholds", i]), input),
  );

  let action: PolicyAction = "allow";
  for (const r of tierReasons) action = moreSevere(action, r.action);
  for (const r of thresholdReasons) if (r.status === "fired") action = moreSevere(action, r.action);

  const reasons: DecisionReason[] = [
    ...tierReasons.map((r) => ({ ...r, decisive: r.action === action })),
    ...thresholdReasons.map((r) => ({ ...r, decisive: r.status === "fired" && r.action === action })),
  ];
  // A prompt cannot be regenerated: the action means block there (the decisive reasons keep saying regenerate).
  const final: PolicyAction = direction === "prompt" && action === "regenerate" ? "block" : action;
  if (final !== action) {
    for (const r of reasons) {
      if (r.decisive) r.message += " (a prompt cannot be regenerated: block)";
    }
  }

  const decisiveTier = tierReasons.find((r) => r.action === action && r.category !== undefined);
  const decisiveThreshold = thresholdReasons.find((r) => r.status === "fired" && r.action === action);
  const category =
    decisiveTier?.category ??
    (decisiveThreshold?.categories ?? input.categories).find((c) => input.categories.includes(c));

  return {
    action: final,
    direction,
    tier,
    effectiveTier: binaryTier(tier, policy.mode),
    mode: policy.mode,
    ...(category === undefined ? {} : { category }),
    reasons,
  };
}

/**
 * The effective tier actions of a direction, for every category (and `(none)` for verdicts naming no
 * category): what `decide` returns before thresholds. For display (the table `qwen3guard policy check --table`
 * prints) and for tests.
 *
 * @example
 * ```ts
 * import { actionTable, parsePolicyDocument, resolvePolicy } from "qwen3guard/core";
 *
 * const policy = resolvePolicy("p", new Map([["p", parsePolicyDocument({ mode: "loose", response: { categories: { PII: "flag" } } })]]));
 * const table = actionTable(policy, "response");
 * console.log(table["(none)"], table.PII); // { Safe: "allow", Controversial: "allow", Unsafe: "block" } { Safe: "allow", Controversial: "flag", Unsafe: "flag" }
 * ```
 */
export function actionTable(
  policy: Policy,
  direction: Direction,
  categories: readonly Category[] = categoriesFor(direction),
): Record<string, Record<RiskTier, PolicyAction>> {
  const row = (c?: Category): Record<RiskTier, PolicyAction> => ({
    Safe: tierAction(policy, direction, "Safe", c).action,
    Controversial: tierAction(policy, direction, "Controversial", c).action,
    Unsafe: tierAction(policy, direction, "Unsafe", c).action,
  });
  const out: Record<string, Record<RiskTier, PolicyAction>> = { "(none)": row() };
  for (const c of categories) out[c] = row(c);
  return out;
}
