/** Typed errors of policy validation and resolution. Pure: no I/O. */
import { Qwen3GuardError } from "../errors.js";

/** One problem found in a policy document. */
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

/** A policy document is invalid, or its `extends` chain cannot be resolved. */
export class PolicyError extends Qwen3GuardError {
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

/** The `extends` chain loops back on itself; `chain` lists the documents, the repeated one last. */
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
