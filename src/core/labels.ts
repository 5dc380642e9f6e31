/**
 * Risk tiers and harm categories, spelled exactly as Qwen3Guard prints them.
 * Pure data: no I/O, no engine.
 */

/**
 * The three risk tiers, in the order the Stream heads number them (0 Safe, 1 Unsafe, 2 Controversial). Use it to
 * list or validate tiers (a UI's filter, a column of a report).
 *
 * @example
 * ```ts
 * import { RISK_TIERS } from "qwen3guard";
 *
 * for (const tier of RISK_TIERS) console.log(tier); // Safe, Unsafe, Controversial
 * ```
 */
export const RISK_TIERS = ["Safe", "Unsafe", "Controversial"] as const;

/**
 * A risk tier, as the models print it: `Safe`, `Unsafe` or `Controversial` (`verdict.tier`, `trigger.tier`).
 *
 * @example
 * ```ts
 * import type { RiskTier } from "qwen3guard";
 *
 * const badge: Record<RiskTier, string> = { Safe: "green", Unsafe: "red", Controversial: "yellow" };
 * console.log(badge.Controversial);
 * ```
 */
export type RiskTier = (typeof RISK_TIERS)[number];

/**
 * Which side of the conversation is judged: `prompt` (the user's last message) or `response` (the assistant's
 * last message). Gen verdicts and policy decisions carry it; policies have one section per direction.
 *
 * @example
 * ```ts
 * import type { Direction } from "qwen3guard";
 *
 * const direction: Direction = "response"; // moderating the assistant's answer
 * console.log(direction);
 * ```
 */
export type Direction = "prompt" | "response";

/**
 * The 8 harm categories of response moderation, in the order the Gen template lists them.
 *
 * @example
 * ```ts
 * import { RESPONSE_CATEGORIES } from "qwen3guard";
 *
 * console.log(RESPONSE_CATEGORIES.length, RESPONSE_CATEGORIES[0]); // 8 Violent
 * ```
 */
export const RESPONSE_CATEGORIES = [
  "Violent",
  "Non-violent Illegal Acts",
  "Sexual Content or Sexual Acts",
  "PII",
  "Suicide & Self-Harm",
  "Unethical Acts",
  "Politically Sensitive Topics",
  "Copyright Violation",
] as const;

/**
 * The 9 harm categories of prompt moderation: the response set plus `Jailbreak`.
 *
 * @example
 * ```ts
 * import { PROMPT_CATEGORIES } from "qwen3guard";
 *
 * console.log(PROMPT_CATEGORIES.includes("Jailbreak")); // true
 * ```
 */
export const PROMPT_CATEGORIES = [...RESPONSE_CATEGORIES, "Jailbreak"] as const;

/**
 * A category response moderation can name (one of {@link RESPONSE_CATEGORIES}).
 *
 * @example
 * ```ts
 * import type { ResponseCategory } from "qwen3guard";
 *
 * const blockedInAnswers: ResponseCategory[] = ["PII", "Violent"];
 * console.log(blockedInAnswers);
 * ```
 */
export type ResponseCategory = (typeof RESPONSE_CATEGORIES)[number];

/**
 * A category prompt moderation can name (one of {@link PROMPT_CATEGORIES}: the response ones and `Jailbreak`).
 *
 * @example
 * ```ts
 * import type { PromptCategory } from "qwen3guard";
 *
 * const category: PromptCategory = "Jailbreak";
 * console.log(category);
 * ```
 */
export type PromptCategory = (typeof PROMPT_CATEGORIES)[number];

/**
 * Any harm category (the prompt set, which contains the response set): the type of `verdict.categories`.
 *
 * @example
 * ```ts
 * import type { Category, Verdict } from "qwen3guard";
 *
 * function mentions(verdict: Verdict, category: Category): boolean {
 *   return verdict.categories.includes(category);
 * }
 * console.log(mentions({ direction: "prompt", tier: "Unsafe", categories: ["Violent"], raw: "", unsafeStrict: true, unsafeLoose: true }, "Violent")); // true
 * ```
 */
export type Category = PromptCategory;

/**
 * The categories the model may name for a direction: {@link PROMPT_CATEGORIES} or {@link RESPONSE_CATEGORIES}.
 *
 * @example
 * ```ts
 * import { categoriesFor } from "qwen3guard/core";
 *
 * console.log(categoriesFor("response").includes("Jailbreak")); // false
 * ```
 */
export function categoriesFor(direction: Direction): readonly Category[] {
  return direction === "prompt" ? PROMPT_CATEGORIES : RESPONSE_CATEGORIES;
}

/**
 * Whether a value (parsed JSON, a form field) is a risk tier spelled as the models spell it.
 *
 * @example
 * ```ts
 * import { isRiskTier } from "qwen3guard/core";
 *
 * console.log(isRiskTier("Unsafe"), isRiskTier("unsafe")); // true false
 * ```
 */
export function isRiskTier(value: unknown): value is RiskTier {
  return typeof value === "string" && (RISK_TIERS as readonly string[]).includes(value);
}

/**
 * Whether a value is a category the model may name for a direction (default `prompt`, the larger set).
 *
 * @example
 * ```ts
 * import { isCategory } from "qwen3guard/core";
 *
 * console.log(isCategory("Jailbreak"), isCategory("Jailbreak", "response")); // true false
 * ```
 */
export function isCategory(value: unknown, direction: Direction = "prompt"): value is Category {
  return typeof value === "string" && (categoriesFor(direction) as readonly string[]).includes(value);
}

/**
 * Refusal labels of response moderation (`Refusal: Yes|No`: whether the assistant declined).
 *
 * @example
 * ```ts
 * import { REFUSAL_LABELS } from "qwen3guard";
 *
 * console.log(REFUSAL_LABELS); // ["Yes", "No"]
 * ```
 */
export const REFUSAL_LABELS = ["Yes", "No"] as const;

/**
 * `Yes` when the moderated answer is a refusal, else `No` (`verdict.refusal`, response moderation only).
 *
 * @example
 * ```ts
 * import type { RefusalLabel } from "qwen3guard";
 *
 * const refused = (label: RefusalLabel | undefined) => label === "Yes";
 * console.log(refused("No")); // false
 * ```
 */
export type RefusalLabel = (typeof REFUSAL_LABELS)[number];

/**
 * How Controversial is read: strict mode treats it as Unsafe, loose mode as Safe. The official Gen evaluation
 * counts `Unsafe` or `Controversial` as unsafe, i.e. strict. Policies, Stream sessions and the CLI take a mode.
 *
 * @example
 * ```ts
 * import type { Strictness } from "qwen3guard";
 *
 * const mode: Strictness = "loose"; // only Unsafe counts
 * console.log(mode);
 * ```
 */
export type Strictness = "strict" | "loose";

/**
 * Collapse a tier to "is it unsafe" under a mode (Controversial is unsafe in strict mode only). Gen verdicts carry
 * both answers already (`unsafeStrict`, `unsafeLoose`).
 *
 * @example
 * ```ts
 * import { isUnsafeUnder } from "qwen3guard/core";
 *
 * console.log(isUnsafeUnder("Controversial", "strict"), isUnsafeUnder("Controversial", "loose")); // true false
 * ```
 */
export function isUnsafeUnder(tier: RiskTier, mode: Strictness): boolean {
  if (tier === "Unsafe") return true;
  if (tier === "Controversial") return mode === "strict";
  return false;
}

/**
 * The binary tier (`Safe` or `Unsafe`) a three-way tier becomes under a mode.
 *
 * @example
 * ```ts
 * import { binaryTier } from "qwen3guard/core";
 *
 * console.log(binaryTier("Controversial", "loose")); // Safe
 * ```
 */
export function binaryTier(tier: RiskTier, mode: Strictness): "Safe" | "Unsafe" {
  return isUnsafeUnder(tier, mode) ? "Unsafe" : "Safe";
}
