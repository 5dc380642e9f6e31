/**
 * Turning an untyped verdict (JSON from a user, a log line) into a PolicyInput.
 * Accepts a Gen `Verdict`/`GenOutput` (`categories: [...]`) and a Stream verdict (`category: "..."`).
 */
import { z } from "zod";
import { RISK_TIERS, categoriesFor } from "../labels.js";
import type { Category, Direction } from "../labels.js";
import { PolicyError } from "./errors.js";
import type { PolicyInput } from "./types.js";

const probability = z
  .number({ error: "expected a probability (a number in [0, 1])" })
  .min(0, { error: "expected a probability in [0, 1]" })
  .max(1, { error: "expected a probability in [0, 1]" });

const inputSchema = z.looseObject({
  direction: z.enum(["prompt", "response"], { error: "expected prompt or response" }).optional(),
  tier: z.enum(RISK_TIERS, { error: `expected a tier: ${RISK_TIERS.join(", ")}` }),
  categories: z.array(z.string(), { error: "expected a list of category names" }).optional(),
  category: z.string({ error: "expected a category name" }).optional(),
  probabilities: z
    .strictObject({ Safe: probability, Unsafe: probability, Controversial: probability })
    .optional(),
});

/**
 * Validate a verdict-like value (JSON from a user, a log line) into a PolicyInput: a Gen verdict
 * (`categories: [...]`) or a Stream verdict (`category: "..."`); `None` means no category. `direction` is used
 * when the value has none. Throws PolicyError with the path of each problem.
 *
 * @example
 * ```ts
 * import { decide, parsePolicyInput } from "qwen3guard";
 * import { emptyPolicy } from "qwen3guard/core";
 *
 * const input = parsePolicyInput(JSON.parse('{"tier": "Unsafe", "category": "Violent"}'), "response");
 * console.log(input.categories, decide(emptyPolicy(), input).action); // ["Violent"] block
 * ```
 */
export function parsePolicyInput(value: unknown, direction?: Direction): PolicyInput {
  const result = inputSchema.safeParse(value);
  if (!result.success) {
    throw new PolicyError(
      result.error.issues.map((i) => ({
        path: i.path.map((p) => (typeof p === "symbol" ? String(p) : p)),
        message: i.message,
      })),
    );
  }
  const v = result.data;
  const dir = v.direction ?? direction;
  if (dir === undefined) {
    throw new PolicyError([
      { path: ["direction"], message: "expected prompt or response (in the verdict, or given separately)" },
    ]);
  }
  const names = [...(v.categories ?? []), ...(v.category === undefined ? [] : [v.category])];
  const valid = categoriesFor(dir) as readonly string[];
  const bad = names.filter((n) => !valid.includes(n) && n !== "None");
  if (bad.length > 0) {
    throw new PolicyError([
      {
        path: [v.categories === undefined ? "category" : "categories"],
        message: `unknown ${dir} category ${bad.map((b) => JSON.stringify(b)).join(", ")}; expected one of ${valid.join(", ")}`,
      },
    ]);
  }
  return {
    direction: dir,
    tier: v.tier,
    categories: names.filter((n): n is Category => n !== "None"),
    ...(v.probabilities === undefined ? {} : { probabilities: v.probabilities }),
  };
}
