/**
 * Risk tiers and harm categories, spelled exactly as Qwen3Guard prints them.
 * Pure data: no I/O, no engine.
 */

/** The three risk tiers, in the order the Stream heads number them (0 Safe, 1 Unsafe, 2 Controversial). */
export const RISK_TIERS = ["Safe", "Unsafe", "Controversial"] as const;
export type RiskTier = (typeof RISK_TIERS)[number];

/** Which side of the conversation is judged. */
export type Direction = "prompt" | "response";

/** Categories for response moderation (8), in the order the Gen template lists them. */
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

/** Categories for prompt moderation (9): the response set plus Jailbreak. */
export const PROMPT_CATEGORIES = [...RESPONSE_CATEGORIES, "Jailbreak"] as const;

export type ResponseCategory = (typeof RESPONSE_CATEGORIES)[number];
export type PromptCategory = (typeof PROMPT_CATEGORIES)[number];
export type Category = PromptCategory;

/** The categories the model may name for a direction. */
export function categoriesFor(direction: Direction): readonly Category[] {
  return direction === "prompt" ? PROMPT_CATEGORIES : RESPONSE_CATEGORIES;
}

export function isRiskTier(value: unknown): value is RiskTier {
  return typeof value === "string" && (RISK_TIERS as readonly string[]).includes(value);
}

export function isCategory(value: unknown, direction: Direction = "prompt"): value is Category {
  return typeof value === "string" && (categoriesFor(direction) as readonly string[]).includes(value);
}

/** Refusal answer of response moderation. */
export const REFUSAL_LABELS = ["Yes", "No"] as const;
export type RefusalLabel = (typeof REFUSAL_LABELS)[number];

/**
 * Strict mode treats Controversial as Unsafe; loose mode treats it as Safe.
 * The official Gen evaluation counts `Unsafe` or `Controversial` as unsafe, i.e. strict.
 */
export type Strictness = "strict" | "loose";

/** Collapse a tier to a binary "is it unsafe" under a mode. */
export function isUnsafeUnder(tier: RiskTier, mode: Strictness): boolean {
  if (tier === "Unsafe") return true;
  if (tier === "Controversial") return mode === "strict";
  return false;
}

/** The binary tier a three-way tier becomes under a mode. */
export function binaryTier(tier: RiskTier, mode: Strictness): "Safe" | "Unsafe" {
  return isUnsafeUnder(tier, mode) ? "Unsafe" : "Safe";
}
