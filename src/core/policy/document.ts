/**
 * A resolved policy written back as a policy document: what `extends` merged, as one document that
 * `parsePolicyDocument` accepts and that resolves to the same rules (the playground's editor starts from it).
 */
import type { Direction } from "../labels.js";
import type { DirectionDocument, PolicyDocument } from "./schema.js";
import type { Policy } from "./types.js";

function directionDocument(policy: Policy, direction: Direction): DirectionDocument | undefined {
  const d = policy[direction];
  const out: DirectionDocument = {};
  if (Object.keys(d.default).length > 0) out.default = { ...d.default };
  const categories = Object.entries(d.categories).filter(
    ([, t]) => t !== undefined && Object.keys(t).length > 0,
  );
  if (categories.length > 0) out.categories = Object.fromEntries(categories.map(([c, t]) => [c, { ...t }]));
  if (d.thresholds.length > 0) {
    out.thresholds = d.thresholds.map((t) => ({
      when: t.when,
      atLeast: t.atLeast,
      action: t.action,
      ...(t.categories === undefined ? {} : { categories: [...t.categories] }),
    }));
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

/**
 * A resolved policy written back as one policy document: no `extends` (what it merged is written out), the mode
 * always written. `parsePolicyDocument` accepts it and `resolvePolicy` gives the same rules back; write it as YAML
 * or JSON to see, or to start editing, the rules a tenant's policy comes to.
 *
 * @example
 * ```ts
 * import { parsePolicyDocument, policyDocument, resolvePolicy } from "qwen3guard/core";
 *
 * const documents = new Map([
 *   ["base", parsePolicyDocument({ response: { categories: { Violent: "block" } } })],
 *   ["bot", parsePolicyDocument({ extends: "base", mode: "loose" })],
 * ]);
 * console.log(JSON.stringify(policyDocument(resolvePolicy("bot", documents))));
 * // {"mode":"loose","response":{"categories":{"Violent":{"Unsafe":"block","Controversial":"block"}}}}
 * ```
 */
export function policyDocument(policy: Policy): PolicyDocument {
  const prompt = directionDocument(policy, "prompt");
  const response = directionDocument(policy, "response");
  return {
    ...(policy.name === undefined ? {} : { name: policy.name }),
    ...(policy.description === undefined ? {} : { description: policy.description }),
    mode: policy.mode,
    ...(prompt === undefined ? {} : { prompt }),
    ...(response === undefined ? {} : { response }),
  };
}
