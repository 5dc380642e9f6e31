/**
 * The policy document schema (YAML or JSON, one schema), validated with zod.
 * A document is what one file says; `resolve.ts` merges a document with the ones it extends.
 */
import { z } from "zod";
import { PROMPT_CATEGORIES, RISK_TIERS, categoriesFor } from "../labels.js";
import type { Category, Direction, Strictness } from "../labels.js";
import { PolicyError } from "./errors.js";
import { POLICY_ACTIONS, THRESHOLD_MEASURES } from "./types.js";
import type { ThresholdAction, ThresholdMeasure, TierActions } from "./types.js";

/** A threshold as written in a document. */
export interface ThresholdDocument {
  when: ThresholdMeasure;
  atLeast: number;
  action: ThresholdAction;
  categories?: Category[];
}

/** One direction's section as written (shorthand already expanded). */
export interface DirectionDocument {
  default?: TierActions;
  categories?: Partial<Record<Category, TierActions>>;
  thresholds?: ThresholdDocument[];
}

/**
 * One policy file, validated, before `extends` is resolved (`parsePolicyDocument`); `resolvePolicy` turns a set
 * of them into a Policy.
 *
 * @example
 * ```ts
 * import { parsePolicyDocument, type PolicyDocument } from "qwen3guard/core";
 *
 * const doc: PolicyDocument = parsePolicyDocument({ extends: "./base.yaml", response: { categories: { PII: "flag" } } });
 * console.log(doc.extends, doc.response?.categories?.PII); // ["./base.yaml"] { Unsafe: "flag", Controversial: "flag" }
 * ```
 */
export interface PolicyDocument {
  name?: string;
  description?: string;
  /** Documents this one builds on, applied in order, this one last. */
  extends?: string[];
  mode?: Strictness;
  prompt?: DirectionDocument;
  response?: DirectionDocument;
}

const list = (values: readonly string[]): string => values.join(", ");

function strictKeys(keys: readonly string[]) {
  return (iss: { code?: string; keys?: string[] }): string | undefined =>
    iss.code === "unrecognized_keys"
      ? `unknown key ${(iss.keys ?? []).map((k) => JSON.stringify(k)).join(", ")}; expected ${list(keys)}`
      : undefined;
}

const actionSchema = z.enum(POLICY_ACTIONS, { error: `expected an action: ${list(POLICY_ACTIONS)}` });

const tierMapSchema = z.strictObject(
  {
    Safe: actionSchema.optional(),
    Unsafe: actionSchema.optional(),
    Controversial: actionSchema.optional(),
  },
  { error: strictKeys(RISK_TIERS) },
);

/** Validate `value` with `schema` inside a transform, re-reporting nested issues with their paths. */
function nested<T>(schema: z.ZodType<T>, value: unknown, ctx: z.RefinementCtx): T | typeof z.NEVER {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  for (const issue of result.error.issues) {
    ctx.addIssue({ code: "custom", message: issue.message, path: issue.path as (string | number)[] });
  }
  return z.NEVER;
}

/**
 * Tier actions: either a map `{ Safe?, Unsafe?, Controversial? }`, or one action as shorthand for
 * "this action at Controversial and above" (`{ Unsafe: a, Controversial: a }`).
 */
const tierActionsSchema = z.unknown().transform((value, ctx): TierActions => {
  if (typeof value === "string") {
    const action = nested(actionSchema, value, ctx);
    return action === z.NEVER ? z.NEVER : { Unsafe: action, Controversial: action };
  }
  if (value !== null && typeof value === "object" && !Array.isArray(value)) {
    return nested(tierMapSchema, value, ctx);
  }
  ctx.addIssue({
    code: "custom",
    message: `expected an action (${list(POLICY_ACTIONS)}) or a map of tiers (${list(RISK_TIERS)}) to actions`,
  });
  return z.NEVER;
});

function categoryProblem(name: string, direction: Direction): string | undefined {
  const valid = categoriesFor(direction) as readonly string[];
  if (valid.includes(name)) return undefined;
  if (direction === "response" && (PROMPT_CATEGORIES as readonly string[]).includes(name)) {
    return `"${name}" is a prompt-only category (responses never carry it); move it under prompt`;
  }
  const near = valid.find((c) => c.toLowerCase() === name.toLowerCase());
  const hint = near === undefined ? "" : ` (did you mean "${near}"?)`;
  return `unknown category "${name}"${hint}; expected one of ${list(valid)}`;
}

function categoryNameSchema(direction: Direction) {
  return z.string({ error: "expected a category name" }).superRefine((name, ctx) => {
    const problem = categoryProblem(name, direction);
    if (problem !== undefined) ctx.addIssue({ code: "custom", message: problem });
  }) as unknown as z.ZodType<Category>;
}

function categoryRulesSchema(direction: Direction) {
  return z
    .record(z.string(), tierActionsSchema, { error: "expected a map of category names to actions" })
    .superRefine((rules, ctx) => {
      for (const name of Object.keys(rules)) {
        const problem = categoryProblem(name, direction);
        if (problem !== undefined) ctx.addIssue({ code: "custom", message: problem, path: [name] });
      }
    }) as unknown as z.ZodType<Partial<Record<Category, TierActions>>>;
}

const probabilitySchema = z
  .number({ error: "expected a probability (a number in [0, 1])" })
  .min(0, { error: "expected a probability in [0, 1], got a number below 0" })
  .max(1, { error: "expected a probability in [0, 1], got a number above 1" });

function thresholdSchema(direction: Direction) {
  const keys = ["when", "atLeast", "action", "categories"];
  return z.strictObject(
    {
      when: z.enum(THRESHOLD_MEASURES, { error: `expected a measure: ${list(THRESHOLD_MEASURES)}` }),
      atLeast: probabilitySchema,
      action: z.enum(["flag", "regenerate", "block"], {
        error: "expected flag, regenerate or block (thresholds only escalate; use tier actions to allow)",
      }),
      categories: z
        .array(categoryNameSchema(direction), { error: "expected a list of category names" })
        .min(1, { error: "expected at least one category (leave the key out to match all)" })
        .optional(),
    },
    { error: strictKeys(keys) },
  );
}

function directionSchema(direction: Direction) {
  const keys = ["default", "categories", "thresholds"];
  return z.strictObject(
    {
      default: tierActionsSchema.optional(),
      categories: categoryRulesSchema(direction).optional(),
      thresholds: z.array(thresholdSchema(direction), { error: "expected a list of thresholds" }).optional(),
    },
    { error: strictKeys(keys) },
  );
}

const DOCUMENT_KEYS = ["name", "description", "extends", "mode", "prompt", "response"];

const documentSchema = z.strictObject(
  {
    name: z.string({ error: "expected a string" }).optional(),
    description: z.string({ error: "expected a string" }).optional(),
    extends: z
      .union([z.string(), z.array(z.string())], {
        error: "expected a policy path or a list of policy paths",
      })
      .transform((v) => (typeof v === "string" ? [v] : v))
      .optional(),
    mode: z.enum(["strict", "loose"], { error: "expected strict or loose" }).optional(),
    prompt: directionSchema("prompt").optional(),
    response: directionSchema("response").optional(),
  },
  { error: strictKeys(DOCUMENT_KEYS) },
);

/**
 * Validate one parsed document (the result of YAML/JSON parsing) and expand its shorthand (`PII: flag` means
 * flag at Controversial and above). Throws PolicyError listing every problem with its path; `source` names the
 * file in messages. Use it for policies kept outside files (a database, a config service), then `resolvePolicy`.
 *
 * @example
 * ```ts
 * import { parsePolicyDocument, resolvePolicy } from "qwen3guard/core";
 *
 * const stored: unknown = JSON.parse('{"mode": "loose", "prompt": {"categories": {"Jailbreak": "block"}}}');
 * const policy = resolvePolicy("tenant-a", new Map([["tenant-a", parsePolicyDocument(stored, "tenant-a")]]));
 * console.log(policy.mode, policy.prompt.categories.Jailbreak); // loose { Unsafe: "block", Controversial: "block" }
 * ```
 */
export function parsePolicyDocument(data: unknown, source?: string): PolicyDocument {
  if (data === null || data === undefined) {
    throw new PolicyError([
      { ...(source === undefined ? {} : { source }), path: [], message: "empty policy" },
    ]);
  }
  if (typeof data !== "object" || Array.isArray(data)) {
    throw new PolicyError([
      { ...(source === undefined ? {} : { source }), path: [], message: "expected a map at the top level" },
    ]);
  }
  const result = documentSchema.safeParse(data);
  if (!result.success) {
    throw new PolicyError(
      result.error.issues.map((i) => ({
        ...(source === undefined ? {} : { source }),
        path: i.path.map((p) => (typeof p === "symbol" ? String(p) : p)),
        message: i.message,
      })),
    );
  }
  return result.data as PolicyDocument;
}
