/** Typed errors of policy validation and resolution. Pure: no I/O. */
import { Qwen3GuardError } from "../errors.js";

/**
 * One problem found in a policy document (`PolicyError.issues`): the file, the path of the field, what was
 * expected.
 *
 * @example
 * ```ts
 * import { PolicyError, type PolicyIssue } from "qwen3guard";
 *
 * const issue: PolicyIssue = { source: "policy.yaml", path: ["response", "categories", "PII"], message: "expected an action" };
 * console.log(new PolicyError([issue]).message); // policy.yaml: response.categories.PII: expected an action
 * ```
 */
export interface PolicyIssue {
  /** The file (or document id) the problem is in, when known. */
  source?: string;
  /** Path of the offending field inside the document. */
  path: readonly (string | number)[];
  /** What was expected, in words. */
  message: string;
}

/** Render a path as `response.categories.PII.Unsafe` (keys with spaces or odd characters quoted). */
export function formatPath(path: readonly (string | number)[]): string {
  let out = "";
  for (const part of path) {
    if (typeof part === "number") out += `[${part}]`;
    else if (/^[A-Za-z_$][\w$-]*$/.test(part)) out += out === "" ? part : `.${part}`;
    else out += `[${JSON.stringify(part)}]`;
  }
  return out;
}

/** `FILE: path.to.field: message`, leaving out the parts that are unknown. */
export function formatIssue(issue: PolicyIssue): string {
  const parts: string[] = [];
  if (issue.source !== undefined) parts.push(issue.source);
  if (issue.path.length > 0) parts.push(formatPath(issue.path));
  parts.push(issue.message);
  return parts.join(": ");
}

/**
 * A policy document is invalid, or its `extends` chain cannot be resolved: `issues` lists every problem with its
 * file and field path (the message has one line per issue). Code `POLICY_INVALID`.
 *
 * @example
 * ```ts
 * import fs from "node:fs";
 * import { PolicyError, loadPolicy } from "qwen3guard";
 *
 * fs.writeFileSync("/tmp/bad-policy.yaml", "mode: lenient\n");
 * try {
 *   await loadPolicy("/tmp/bad-policy.yaml");
 * } catch (error) {
 *   if (error instanceof PolicyError) for (const issue of error.issues) console.log(issue.path, issue.message); // ["mode"] expected strict or loose
 * }
 * ```
 */
export class PolicyError extends Qwen3GuardError {
  /** Every problem found, in order. */
  readonly issues: readonly PolicyIssue[];

  constructor(issues: readonly PolicyIssue[], code = "POLICY_INVALID") {
    super(code, issues.map(formatIssue).join("\n"));
    this.issues = issues;
  }

  /** The same issues, attributed to `source` where they name none. */
  withSource(source: string): PolicyError {
    return new PolicyError(this.issues.map((i) => (i.source === undefined ? { ...i, source } : i)));
  }
}

/**
 * A policy's `extends` chain loops back on itself; `chain` lists the documents, the repeated one last. Code
 * `POLICY_EXTENDS_CYCLE` (a PolicyError).
 *
 * @example
 * ```ts
 * import { PolicyExtendsCycleError } from "qwen3guard";
 * import { parsePolicyDocument, resolvePolicy } from "qwen3guard/core";
 *
 * const documents = new Map([
 *   ["a", parsePolicyDocument({ extends: "b" })],
 *   ["b", parsePolicyDocument({ extends: "a" })],
 * ]);
 * try {
 *   resolvePolicy("a", documents);
 * } catch (error) {
 *   if (error instanceof PolicyExtendsCycleError) console.log(error.chain); // ["a", "b", "a"]
 * }
 * ```
 */
export class PolicyExtendsCycleError extends PolicyError {
  readonly chain: readonly string[];

  constructor(chain: readonly string[]) {
    const first = chain[0];
    super(
      [
        {
          ...(first === undefined ? {} : { source: first }),
          path: ["extends"],
          message: `extends cycle: ${chain.join(" -> ")} (a policy cannot extend itself, directly or not)`,
        },
      ],
      "POLICY_EXTENDS_CYCLE",
    );
    this.chain = chain;
  }
}
