/**
 * `qwen3guard policy check FILE` and `qwen3guard policy explain FILE --verdict JSON`, plus the
 * `--policy FILE` helper that `moderate` and `stream` use.
 */
import { readFile } from "node:fs/promises";
import { Command, Option } from "commander";
import { stringify } from "yaml";
import { PROMPT_CATEGORIES, RESPONSE_CATEGORIES } from "../../core/labels.js";
import type { Direction } from "../../core/labels.js";
import { PolicyError, actionTable, decide, parsePolicyInput } from "../../core/policy/index.js";
import type { Decision, Policy } from "../../core/policy/index.js";
import { loadPolicyFile } from "../../guard/policy/index.js";
import { CliInputError } from "../errors.js";
import { errorLines, EXIT, PREFIX } from "../report.js";

/** Where the command writes, and how it reports its exit status (injectable for tests). */
export interface PolicyIo {
  out(text: string): void;
  err(text: string): void;
  exit(code: number): void;
}

const processIo: PolicyIo = {
  out: (t) => process.stdout.write(t),
  err: (t) => process.stderr.write(t),
  exit: (code) => {
    process.exitCode = code;
  },
};

/**
 * For `--policy FILE` on `moderate` and `stream`: the resolved policy, or undefined when no path is given.
 * Throws PolicyError (message `FILE: path: expected …`, one line per problem).
 */
export async function loadPolicyOption(path: string | undefined): Promise<Policy | undefined> {
  return path === undefined ? undefined : loadPolicyFile(path);
}

/** The `--policy` option, for commands that take one. */
export function policyOption(more?: string): Option {
  return new Option(
    "--policy <file>",
    `apply a policy file (YAML or JSON) to the verdicts; its mode (strict/loose) applies${more ? `; ${more}` : ""}`,
  );
}

/** The effective policy as a plain object with a stable key order, for printing. */
export function policyForDisplay(policy: Policy): Record<string, unknown> {
  const direction = (d: Direction) => ({
    default: policy[d].default,
    categories: policy[d].categories,
    thresholds: policy[d].thresholds.map((t) => ({
      when: t.when,
      atLeast: t.atLeast,
      action: t.action,
      ...(t.categories === undefined ? {} : { categories: t.categories }),
      ...(t.source === undefined ? {} : { from: t.source }),
    })),
  });
  return {
    ...(policy.name === undefined ? {} : { name: policy.name }),
    ...(policy.description === undefined ? {} : { description: policy.description }),
    mode: policy.mode,
    sources: policy.sources,
    prompt: direction("prompt"),
    response: direction("response"),
  };
}

function tableText(policy: Policy): string {
  const lines: string[] = [];
  for (const d of ["prompt", "response"] as const) {
    const table = actionTable(policy, d, d === "prompt" ? PROMPT_CATEGORIES : RESPONSE_CATEGORIES);
    const width = Math.max(...Object.keys(table).map((k) => k.length));
    lines.push(`${d}: ${"".padEnd(width - d.length)}  Safe   Controversial  Unsafe`);
    for (const [cat, row] of Object.entries(table)) {
      lines.push(
        `  ${cat.padEnd(width)}  ${row.Safe.padEnd(5)}  ${row.Controversial.padEnd(13)}  ${row.Unsafe}`,
      );
    }
    const n = policy[d].thresholds.length;
    if (n > 0) lines.push(`  (+ ${n} threshold${n === 1 ? "" : "s"}, which can only escalate)`);
  }
  return lines.join("\n") + "\n";
}

/** A human-readable decision: the action on the first line, then every rule consulted. */
export function decisionText(decision: Decision): string {
  const tier =
    decision.tier === decision.effectiveTier
      ? decision.tier
      : `${decision.tier} (${decision.effectiveTier} in ${decision.mode} mode)`;
  const head =
    `${decision.action.toUpperCase()}: ${decision.direction} verdict ${tier}` +
    (decision.category === undefined ? "" : `, category ${decision.category}`);
  const lines = decision.reasons.map((r) => `  ${r.decisive ? "*" : "-"} ${r.message}`);
  return [head, ...lines, "  (* = decided the action)"].join("\n") + "\n";
}

function reportError(io: PolicyIo, e: unknown): void {
  io.err(
    errorLines(e)
      .map((l) => `${PREFIX} error: ${l}\n`)
      .join(""),
  );
  io.exit(EXIT.error);
}

export interface CheckOptions {
  json?: boolean;
  table?: boolean;
}

/** Validate FILE and print its effective policy; exit status 1 with the errors when it is invalid. */
export async function runPolicyCheck(
  file: string,
  options: CheckOptions,
  io: PolicyIo = processIo,
): Promise<void> {
  try {
    const policy = await loadPolicyFile(file);
    if (options.json) io.out(JSON.stringify(policyForDisplay(policy), null, 2) + "\n");
    else if (options.table) io.out(tableText(policy));
    else io.out(stringify(policyForDisplay(policy)));
  } catch (e) {
    reportError(io, e);
  }
}

export interface ExplainOptions {
  verdict: string;
  direction?: Direction;
  json?: boolean;
}

async function readVerdict(value: string): Promise<unknown> {
  const text = value.startsWith("@") ? await readFile(value.slice(1), "utf8") : value;
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new CliInputError(
      `--verdict: not valid JSON (${(e as Error).message}); pass a JSON object or @file`,
    );
  }
}

/** Apply FILE to a verdict and print the decision with its reasons. */
export async function runPolicyExplain(
  file: string,
  options: ExplainOptions,
  io: PolicyIo = processIo,
): Promise<void> {
  try {
    const policy = await loadPolicyFile(file);
    let input;
    try {
      input = parsePolicyInput(await readVerdict(options.verdict), options.direction);
    } catch (e) {
      if (e instanceof PolicyError) throw e.withSource("--verdict");
      throw e;
    }
    const decision = decide(policy, input);
    io.out(options.json ? JSON.stringify(decision, null, 2) + "\n" : decisionText(decision));
  } catch (e) {
    reportError(io, e);
  }
}

export function registerPolicyCommand(program: Command, io: PolicyIo = processIo): void {
  const policy = program.command("policy").description("validate policy files and explain their decisions");
  policy
    .command("check")
    .description("validate a policy file and print the effective policy (after extends)")
    .argument("<file>", "policy file (YAML or JSON)")
    .option("--json", "print JSON instead of YAML")
    .option("--table", "print the effective action for every direction, category and tier")
    .action((file: string, options: CheckOptions) => runPolicyCheck(file, options, io));
  policy
    .command("explain")
    .description("apply a policy to a verdict and show the decision with its reasons")
    .argument("<file>", "policy file (YAML or JSON)")
    .requiredOption(
      "--verdict <json>",
      'the verdict as JSON or @file, e.g. \'{"direction":"response","tier":"Unsafe","categories":["PII"]}\'',
    )
    .addOption(
      new Option("--direction <direction>", "direction when the verdict has none").choices([
        "prompt",
        "response",
      ]),
    )
    .option("--json", "print the decision as JSON")
    .action((file: string, options: ExplainOptions) => runPolicyExplain(file, options, io));
}
