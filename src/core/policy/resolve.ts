/**
 * `extends` resolution and merging, over documents that are already parsed (no I/O here).
 *
 * Merge rules (a child over its parents):
 * - `mode`: the child's value when it sets one, else the parents' (strict when none sets it);
 * - `name`, `description`: the root document's own (they describe a file, they are not inherited);
 * - `default` and each category rule: merged tier by tier, the child's tiers win;
 * - `thresholds`: concatenated, the parents' first (a child adds thresholds, it cannot drop them).
 * Several parents (`extends: [a, b]`) apply in order: b over a, then the child over both.
 * The mode defaults to strict when no document sets it.
 */
import type { Category } from "../labels.js";
import { PolicyError, PolicyExtendsCycleError } from "./errors.js";
import type { DirectionDocument, PolicyDocument } from "./schema.js";
import type { DirectionPolicy, Policy, TierActions } from "./types.js";

/** Finds the id of the document `ref` points to, as written inside document `fromId`. */
export type ResolveRef = (ref: string, fromId: string) => string;

function emptyDirection(): DirectionPolicy {
  return { default: {}, categories: {}, thresholds: [] };
}

function mergeTiers(base: TierActions | undefined, over: TierActions | undefined): TierActions {
  return { ...base, ...over };
}

/** A policy being assembled: like Policy, but the mode stays unset until the end. */
interface Partial_ extends Omit<Policy, "mode"> {
  mode?: Policy["mode"];
}

function union<T>(a: readonly T[], b: readonly T[]): T[] {
  return [...a, ...b.filter((x) => !a.includes(x))];
}

function mergeDirection(base: DirectionPolicy, over: DirectionPolicy): DirectionPolicy {
  const categories: Partial<Record<Category, TierActions>> = { ...base.categories };
  for (const [name, tiers] of Object.entries(over.categories) as [Category, TierActions][]) {
    categories[name] = mergeTiers(categories[name], tiers);
  }
  // Identity-based union: a document reached twice (diamond) contributes its thresholds once.
  return {
    default: mergeTiers(base.default, over.default),
    categories,
    thresholds: union(base.thresholds, over.thresholds),
  };
}

function merge(base: Partial_, over: Partial_): Partial_ {
  const out: Partial_ = {
    prompt: mergeDirection(base.prompt, over.prompt),
    response: mergeDirection(base.response, over.response),
    sources: union(base.sources, over.sources),
  };
  const mode = over.mode ?? base.mode;
  // name/description describe one document: the latest document's own, never a parent's.
  const { name, description } = over;
  if (mode !== undefined) out.mode = mode;
  if (name !== undefined) out.name = name;
  if (description !== undefined) out.description = description;
  return out;
}

function direction(doc: DirectionDocument | undefined, id: string): DirectionPolicy {
  return {
    default: { ...doc?.default },
    categories: { ...doc?.categories },
    thresholds: (doc?.thresholds ?? []).map((t) => ({ ...t, source: id })),
  };
}

function fromDocument(doc: PolicyDocument, id: string): Partial_ {
  const out: Partial_ = {
    prompt: direction(doc.prompt, id),
    response: direction(doc.response, id),
    sources: [id],
  };
  if (doc.mode !== undefined) out.mode = doc.mode;
  if (doc.name !== undefined) out.name = doc.name;
  if (doc.description !== undefined) out.description = doc.description;
  return out;
}

const EMPTY: Partial_ = { prompt: emptyDirection(), response: emptyDirection(), sources: [] };

/**
 * A policy with no rules: strict mode, the built-in table only (the model's own verdict, strict: Safe allows,
 * Unsafe and Controversial block). What the moderated stream and the middleware use without a policy.
 *
 * @example
 * ```ts
 * import { decide, emptyPolicy } from "qwen3guard/core";
 *
 * console.log(decide(emptyPolicy(), { direction: "prompt", tier: "Controversial", categories: [] }).action); // block
 * ```
 */
export function emptyPolicy(): Policy {
  return { mode: "strict", prompt: emptyDirection(), response: emptyDirection(), sources: [] };
}

/**
 * Resolve `rootId` and everything it extends into one effective policy.
 * `documents` holds every document reachable from the root, keyed by id; `resolveRef` maps an
 * `extends` entry to such an id (default: the entry itself). Throws PolicyExtendsCycleError (with the chain) on a
 * cycle and PolicyError when a referenced document is missing. Merge rules: docs/policies.md, "extends".
 *
 * @example
 * ```ts
 * import { parsePolicyDocument, resolvePolicy } from "qwen3guard/core";
 *
 * const documents = new Map([
 *   ["base", parsePolicyDocument({ response: { categories: { Violent: "block" } } })],
 *   ["bot", parsePolicyDocument({ extends: "base", mode: "loose", response: { categories: { Violent: { Controversial: "flag" } } } })],
 * ]);
 * const policy = resolvePolicy("bot", documents);
 * console.log(policy.mode, policy.response.categories.Violent, policy.sources); // loose { Unsafe: "block", Controversial: "flag" } ["base", "bot"]
 * ```
 */
export function resolvePolicy(
  rootId: string,
  documents: ReadonlyMap<string, PolicyDocument>,
  resolveRef: ResolveRef = (ref) => ref,
): Policy {
  const done = new Map<string, Partial_>();

  const visit = (id: string, chain: readonly string[]): Partial_ => {
    const cached = done.get(id);
    if (cached !== undefined) return cached;
    if (chain.includes(id)) throw new PolicyExtendsCycleError([...chain.slice(chain.indexOf(id)), id]);
    const doc = documents.get(id);
    if (doc === undefined) {
      const from = chain[chain.length - 1];
      throw new PolicyError([
        {
          ...(from === undefined ? {} : { source: from }),
          path: from === undefined ? [] : ["extends"],
          message: `policy "${id}" not found`,
        },
      ]);
    }
    let acc = EMPTY;
    for (const ref of doc.extends ?? []) acc = merge(acc, visit(resolveRef(ref, id), [...chain, id]));
    acc = merge(acc, fromDocument(doc, id));
    done.set(id, acc);
    return acc;
  };

  const { mode, ...rest } = visit(rootId, []);
  return { ...rest, mode: mode ?? "strict" };
}

/** `over` applied on top of `base`, with the same rules as `extends` (e.g. per-call overrides). */
export function mergePolicies(base: Policy, over: Policy): Policy {
  const { mode, ...rest } = merge(base, over);
  return { ...rest, mode: mode ?? "strict" };
}
