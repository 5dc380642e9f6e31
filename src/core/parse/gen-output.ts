/**
 * Parsing what a Qwen3Guard-Gen model wrote (pure: no I/O).
 *
 * Expected text: `Safety: <Safe|Unsafe|Controversial>\nCategories: <A, B | None>`, plus `\nRefusal: <Yes|No>` for
 * response moderation. Two parsers:
 * - {@link parseGenOutputReference}: exactly what the official Python evaluation does (`re.search` for the Safety
 *   label, `re.findall` over the category alternation including `None`, `re.search` for the Refusal label), for
 *   the engine's reference mode. It never throws; a missing label is `null`.
 * - {@link tryParseGenOutput} / {@link parseGenOutput}: the same semantics made tolerant (any whitespace, CR, or
 *   line breaks around `:` and inside category names; any case for the `Safety`/`Refusal` keys and their values;
 *   lines in any order; extra text) and typed: categories are deduplicated, `None` gives an empty list, Jailbreak
 *   only counts for prompts, refusal only for responses. Without a Safety label the result is a
 *   GenOutputParseError, the only error these functions produce.
 */
import {
  categoriesFor,
  RISK_TIERS,
  type Category,
  type Direction,
  type RefusalLabel,
  type RiskTier,
} from "../labels.js";
import type { GenOutput } from "../verdict.js";
import { Qwen3GuardError } from "../errors.js";

/**
 * The text a Gen model produced has no `Safety: <tier>` label (or was not text at all): `raw` holds the text,
 * `direction` what was moderated. Code `GEN_OUTPUT_UNPARSEABLE`. The guard's fast mode holds the model to the
 * format, so only `parseGenOutput` on text from elsewhere (or reference mode) meets it.
 *
 * @example
 * ```ts
 * import { GenOutputParseError, parseGenOutput } from "qwen3guard/core";
 *
 * try {
 *   parseGenOutput("I cannot answer that.", "prompt");
 * } catch (error) {
 *   if (error instanceof GenOutputParseError) console.log(error.code, JSON.stringify(error.raw)); // GEN_OUTPUT_UNPARSEABLE "I cannot answer that."
 * }
 * ```
 */
export class GenOutputParseError extends Qwen3GuardError {
  constructor(
    message: string,
    /** The text that could not be parsed. */
    readonly raw: string,
    readonly direction: Direction,
  ) {
    super("GEN_OUTPUT_UNPARSEABLE", message);
  }
}

/**
 * The result of `tryParseGenOutput`: the parsed output, or the parse error (never thrown).
 *
 * @example
 * ```ts
 * import { tryParseGenOutput, type GenOutputParseResult } from "qwen3guard/core";
 *
 * const result: GenOutputParseResult = tryParseGenOutput("Safety: Safe\nCategories: None", "prompt");
 * console.log(result.ok ? result.output.tier : result.error.message); // Safe
 * ```
 */
export type GenOutputParseResult =
  { ok: true; output: GenOutput } | { ok: false; error: GenOutputParseError };

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

// ---- Reference (official Python) semantics ----

/** `Safety: (Safe|Unsafe|Controversial)`, as in the official evaluation. */
export const REFERENCE_SAFETY_PATTERN = /Safety: (Safe|Unsafe|Controversial)/;
/** `Refusal: (Yes|No)`, as in the official evaluation. */
export const REFERENCE_REFUSAL_PATTERN = /Refusal: (Yes|No)/;

/** The official category alternation for a direction (the direction's categories, then `None`), global. */
export function referenceCategoryPattern(direction: Direction): RegExp {
  return new RegExp(`(${[...categoriesFor(direction), "None"].map(escapeRegExp).join("|")})`, "g");
}

/**
 * What the official Python evaluation reads from a Gen output (`parseGenOutputReference`): the first Safety label
 * or `null`, every category match (duplicates and `None` included), the first Refusal label or `null`.
 *
 * @example
 * ```ts
 * import { parseGenOutputReference, type ReferenceGenOutput } from "qwen3guard/core";
 *
 * const ref: ReferenceGenOutput = parseGenOutputReference("Categories: None", "prompt");
 * console.log(ref.tier, ref.categories); // null ["None"]
 * ```
 */
export interface ReferenceGenOutput {
  direction: Direction;
  /** First `Safety: …` label, or null when there is none. */
  tier: RiskTier | null;
  /** Every match of the category alternation, in order, duplicates and `None` included (Python `re.findall`). */
  categories: Array<Category | "None">;
  /** First `Refusal: …` label for response moderation; null when absent, always null for prompts. */
  refusal: RefusalLabel | null;
  raw: string;
}

/**
 * Parse a Gen output exactly as the official Python evaluation code does (its regexes, `re.findall` for the
 * categories). Never throws for string input. Use it to compare with the reference; prefer `parseGenOutput`
 * otherwise.
 *
 * @example
 * ```ts
 * import { parseGenOutputReference } from "qwen3guard/core";
 *
 * const ref = parseGenOutputReference("Safety: Unsafe\nCategories: Violent, Violent\nRefusal: No", "response");
 * console.log(ref.tier, ref.categories, ref.refusal); // Unsafe ["Violent", "Violent"] No
 * ```
 */
export function parseGenOutputReference(raw: string, direction: Direction): ReferenceGenOutput {
  const text = String(raw);
  const tier = REFERENCE_SAFETY_PATTERN.exec(text)?.[1] as RiskTier | undefined;
  const categories = [...text.matchAll(referenceCategoryPattern(direction))].map(
    (m) => m[1] as Category | "None",
  );
  const refusal =
    direction === "response"
      ? (REFERENCE_REFUSAL_PATTERN.exec(text)?.[1] as RefusalLabel | undefined)
      : undefined;
  return { direction, tier: tier ?? null, categories, refusal: refusal ?? null, raw: text };
}

// ---- Tolerant, typed parser ----

const SAFETY_PATTERN = /safety[^\S\n]*:\s*(safe|unsafe|controversial)/i;
const REFUSAL_PATTERN = /refusal[^\S\n]*:\s*(yes|no)/i;

const tolerantCategoryPatterns = new Map<Direction, RegExp>();

/** Category names with any run of whitespace between words; longest names first. */
function tolerantCategoryPattern(direction: Direction): RegExp {
  let pattern = tolerantCategoryPatterns.get(direction);
  if (!pattern) {
    const names = [...categoriesFor(direction), "None"].sort((a, b) => b.length - a.length);
    const alternatives = names.map((n) => n.split(" ").map(escapeRegExp).join("\\s+"));
    pattern = new RegExp(`(${alternatives.join("|")})`, "g");
    tolerantCategoryPatterns.set(direction, pattern);
  }
  return new RegExp(pattern.source, pattern.flags);
}

function canonicalTier(word: string): RiskTier {
  const lower = word.toLowerCase();
  return RISK_TIERS.find((t) => t.toLowerCase() === lower)!;
}

/**
 * Parse Gen output into a GenOutput, or a GenOutputParseError when there is no Safety label; never throws. The
 * parser is tolerant (any whitespace and case around the labels, lines in any order, extra text) and typed
 * (categories deduplicated, `None` gives none, Jailbreak only for prompts, refusal only for responses).
 *
 * @example
 * ```ts
 * import { tryParseGenOutput } from "qwen3guard/core";
 *
 * const result = tryParseGenOutput("safety:  CONTROVERSIAL\ncategories: Politically  Sensitive Topics", "prompt");
 * if (result.ok) console.log(result.output.tier, result.output.categories); // Controversial ["Politically Sensitive Topics"]
 * ```
 */
export function tryParseGenOutput(raw: string, direction: Direction): GenOutputParseResult {
  if (typeof raw !== "string") {
    return {
      ok: false,
      error: new GenOutputParseError(
        `expected the model's output as a string, got ${typeof raw}`,
        String(raw),
        direction,
      ),
    };
  }
  const safety = SAFETY_PATTERN.exec(raw);
  if (!safety) {
    const shown = raw.length > 200 ? `${raw.slice(0, 200)}…` : raw;
    return {
      ok: false,
      error: new GenOutputParseError(
        `no "Safety: Safe|Unsafe|Controversial" label in the model output ${JSON.stringify(shown)}; ` +
          "check that the prompt uses the Qwen3Guard-Gen template and that enough tokens were generated",
        raw,
        direction,
      ),
    };
  }
  const categories: Category[] = [];
  for (const match of raw.matchAll(tolerantCategoryPattern(direction))) {
    const name = match[1]!.replace(/\s+/g, " ");
    if (name !== "None" && !categories.includes(name as Category)) categories.push(name as Category);
  }
  const output: GenOutput = { direction, tier: canonicalTier(safety[1]!), categories, raw };
  if (direction === "response") {
    const refusal = REFUSAL_PATTERN.exec(raw);
    if (refusal) output.refusal = refusal[1]!.toLowerCase() === "yes" ? "Yes" : "No";
  }
  return { ok: true, output };
}

/**
 * Parse what a Qwen3Guard-Gen model wrote into a GenOutput (tolerant, like `tryParseGenOutput`); throws
 * GenOutputParseError (and nothing else) when there is no Safety label. Use it when you run the model yourself.
 *
 * @example
 * ```ts
 * import { parseGenOutput } from "qwen3guard/core";
 *
 * const output = parseGenOutput("Safety: Unsafe\nCategories: Violent, Jailbreak", "prompt");
 * console.log(output.tier, output.categories); // Unsafe ["Violent", "Jailbreak"]
 * ```
 */
export function parseGenOutput(raw: string, direction: Direction): GenOutput {
  const result = tryParseGenOutput(raw, direction);
  if (!result.ok) throw result.error;
  return result.output;
}

/**
 * Write a verdict the way the model is trained to (the inverse of {@link parseGenOutput} on well-formed text):
 * e.g. to build training or test data, or a fake model's output.
 *
 * @example
 * ```ts
 * import { formatGenOutput } from "qwen3guard/core";
 *
 * console.log(formatGenOutput({ direction: "response", tier: "Safe", categories: [], refusal: "Yes" }));
 * // Safety: Safe
 * // Categories: None
 * // Refusal: Yes
 * ```
 */
export function formatGenOutput(
  output: Pick<GenOutput, "direction" | "tier" | "categories" | "refusal">,
): string {
  const lines = [
    `Safety: ${output.tier}`,
    `Categories: ${output.categories.length > 0 ? output.categories.join(", ") : "None"}`,
  ];
  if (output.direction === "response" && output.refusal !== undefined)
    lines.push(`Refusal: ${output.refusal}`);
  return lines.join("\n");
}
