/**
 * Qwen3Guard's verdicts in OpenAI's /v1/moderations result shape
 * (https://platform.openai.com/docs/api-reference/moderations/object). Pure: no I/O.
 *
 * - Four Qwen3Guard categories have an OpenAI counterpart: Violent → `violence`, Non-violent Illegal Acts →
 *   `illicit`, Sexual Content or Sexual Acts → `sexual`, Suicide & Self-Harm → `self-harm`.
 * - The others are added as keys of their own: `pii`, `unethical-acts`, `politically-sensitive`,
 *   `copyright-violation`, `jailbreak`.
 * - OpenAI keys with no Qwen3Guard counterpart (the `/…` subcategories, harassment, hate) are present, false and 0:
 *   Qwen3Guard does not judge them apart (hate and harassment fall under Unethical Acts).
 * - `flagged` is the tenant's policy: true when the decision is flag or block. A category is true when the result
 *   is flagged and the verdict names that category (Gen names one per input in practice; Stream's query head has
 *   one most probable category).
 * - Scores: the probability that the input is not Safe (P(Unsafe) + P(Controversial)) — Gen gives it to the
 *   category it names (the others 0: Gen names no runner-up); Stream's query head spreads it over its categories
 *   by their probabilities.
 */
import type { Decision } from "../core/policy/index.js";
import type { RiskTier } from "../core/labels.js";
import type { TierProbabilities } from "../core/verdict.js";

/** OpenAI's moderation category keys, in its order. */
export const OPENAI_CATEGORIES = [
  "harassment",
  "harassment/threatening",
  "hate",
  "hate/threatening",
  "illicit",
  "illicit/violent",
  "self-harm",
  "self-harm/instructions",
  "self-harm/intent",
  "sexual",
  "sexual/minors",
  "violence",
  "violence/graphic",
] as const;

/** Each Qwen3Guard category and the key it is reported under. */
export const CATEGORY_KEYS: Readonly<Record<string, string>> = {
  Violent: "violence",
  "Non-violent Illegal Acts": "illicit",
  "Sexual Content or Sexual Acts": "sexual",
  "Suicide & Self-Harm": "self-harm",
  PII: "pii",
  "Unethical Acts": "unethical-acts",
  "Politically Sensitive Topics": "politically-sensitive",
  "Copyright Violation": "copyright-violation",
  Jailbreak: "jailbreak",
};

/** Every key a result carries: OpenAI's, then Qwen3Guard's own. */
export const RESULT_KEYS: readonly string[] = [
  ...OPENAI_CATEGORIES,
  ...Object.values(CATEGORY_KEYS).filter((k) => !(OPENAI_CATEGORIES as readonly string[]).includes(k)),
];

/** The key a category name is reported under (a name outside Qwen3Guard's list: slugged). */
export function categoryKey(name: string): string {
  return (
    CATEGORY_KEYS[name] ??
    name
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, "-")
      .replace(/^-|-$/g, "")
  );
}

/** What one input's moderation said, whichever model said it. */
export interface ModerationInputVerdict {
  model: "gen" | "stream";
  tier: RiskTier;
  /** Categories the verdict names (Gen: from its output; Stream: the query head's top category unless Safe). */
  categories: string[];
  probabilities?: TierProbabilities | undefined;
  /** Stream's query head: P(category) by name. */
  categoryProbabilities?: Record<string, number> | undefined;
}

/** One entry of `results`. */
export interface OpenAiModerationResult {
  flagged: boolean;
  categories: Record<string, boolean>;
  category_scores: Record<string, number>;
  category_applied_input_types: Record<string, "text"[]>;
}

/** Build the OpenAI-shaped result of one input. */
export function toOpenAiResult(verdict: ModerationInputVerdict, decision: Decision): OpenAiModerationResult {
  const flagged = decision.action !== "allow";
  const notSafe = verdict.probabilities
    ? verdict.probabilities.Unsafe + verdict.probabilities.Controversial
    : verdict.tier === "Safe"
      ? 0
      : 1;
  const categories: Record<string, boolean> = {};
  const scores: Record<string, number> = {};
  const applied: Record<string, "text"[]> = {};
  const judged = new Set([
    ...Object.values(CATEGORY_KEYS),
    ...verdict.categories.map(categoryKey),
    ...Object.keys(verdict.categoryProbabilities ?? {}).map(categoryKey),
  ]);
  for (const key of [...RESULT_KEYS, ...[...judged].filter((k) => !RESULT_KEYS.includes(k))]) {
    categories[key] = false;
    scores[key] = 0;
    applied[key] = judged.has(key) ? ["text"] : [];
  }
  if (verdict.categoryProbabilities) {
    for (const [name, p] of Object.entries(verdict.categoryProbabilities)) {
      const key = categoryKey(name);
      scores[key] = (scores[key] ?? 0) + notSafe * p;
    }
  } else {
    for (const name of verdict.categories) scores[categoryKey(name)] = notSafe;
  }
  if (flagged) for (const name of verdict.categories) categories[categoryKey(name)] = true;
  for (const key of Object.keys(scores)) scores[key] = Math.min(1, Math.max(0, scores[key]!));
  return { flagged, categories, category_scores: scores, category_applied_input_types: applied };
}
