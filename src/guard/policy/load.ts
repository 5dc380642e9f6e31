/**
 * Loading policy files (YAML or JSON) from disk and resolving their `extends` chains.
 * Errors are PolicyError with issues rendered `FILE: path.to.field: expected …`.
 */
import { readFile } from "node:fs/promises";
import { dirname, isAbsolute, relative, resolve, sep } from "node:path";
import { parseDocument } from "yaml";
import { PolicyError, parsePolicyDocument, resolvePolicy } from "../../core/policy/index.js";
import type { Policy, PolicyDocument } from "../../core/policy/index.js";

/**
 * What `loadPolicy` returns: the resolved policy and every file it was built from (absolute paths, the root last),
 * e.g. to watch them.
 *
 * @example
 * ```ts
 * import fs from "node:fs";
 * import { loadPolicy, type LoadedPolicy } from "qwen3guard";
 *
 * fs.writeFileSync("/tmp/base.yaml", "response:\n  categories:\n    Violent: block\n");
 * fs.writeFileSync("/tmp/bot.yaml", "extends: ./base.yaml\nmode: loose\n");
 * const loaded: LoadedPolicy = await loadPolicy("/tmp/bot.yaml");
 * console.log(loaded.files); // ["/tmp/base.yaml", "/tmp/bot.yaml"]
 * ```
 */
export interface LoadedPolicy {
  policy: Policy;
  files: string[];
}

/** How a file is named in messages: relative to the working directory when inside it. */
export function displayPath(absolute: string, cwd: string = process.cwd()): string {
  const rel = relative(cwd, absolute);
  return rel === "" || rel.startsWith(`..${sep}`) || rel === ".." || isAbsolute(rel) ? absolute : rel;
}

/** Parse the text of one policy file (YAML; JSON is accepted as the YAML subset it is). */
export function parsePolicyText(text: string, source: string): PolicyDocument {
  const doc = parseDocument(text, { prettyErrors: true });
  if (doc.errors.length > 0) {
    throw new PolicyError(
      doc.errors.map((e) => {
        const at = e.linePos?.[0];
        const where = at === undefined ? "" : `line ${at.line}, column ${at.col}: `;
        return {
          source,
          path: [],
          message: `${where}not valid YAML/JSON: ${e.message.split("\n")[0]!.replace(/ at line \d+, column \d+:?$/, "")}`,
        };
      }),
    );
  }
  return parsePolicyDocument(doc.toJS({ maxAliasCount: 100 }), source);
}

async function readPolicyText(file: string, source: string, referrer?: { source: string }): Promise<string> {
  try {
    return await readFile(file, "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === "ENOENT" ? "no such file" : code === "EISDIR" ? "is a directory" : String(e);
    throw new PolicyError([
      referrer === undefined
        ? { source, path: [], message: `cannot read the policy file: ${why}` }
        : { source: referrer.source, path: ["extends"], message: `cannot read "${source}": ${why}` },
    ]);
  }
}

/**
 * Load a policy file (YAML or JSON) and everything it extends (paths in `extends` are relative to the file that
 * names them), validate each, and resolve the chain; relative paths start from `cwd`. Throws PolicyError (every
 * problem, with its file and field) or PolicyExtendsCycleError.
 *
 * @example
 * ```ts
 * import fs from "node:fs";
 * import { decide, loadPolicy } from "qwen3guard";
 *
 * fs.writeFileSync("/tmp/assistant.yaml", "mode: loose\nprompt:\n  categories:\n    Jailbreak: block\n");
 * const { policy, files } = await loadPolicy("assistant.yaml", "/tmp");
 * console.log(files, decide(policy, { direction: "prompt", tier: "Controversial", categories: ["Jailbreak"] }).action); // ["/tmp/assistant.yaml"] block
 * ```
 */
export async function loadPolicy(path: string, cwd: string = process.cwd()): Promise<LoadedPolicy> {
  const rootAbs = resolve(cwd, path);
  const documents = new Map<string, PolicyDocument>();
  const absOf = new Map<string, string>();
  const idOf = (abs: string): string => displayPath(abs, cwd);

  const visit = async (abs: string, referrer?: { source: string }): Promise<void> => {
    const id = idOf(abs);
    if (absOf.has(id)) return;
    absOf.set(id, abs);
    const doc = parsePolicyText(await readPolicyText(abs, id, referrer), id);
    documents.set(id, doc);
    for (const ref of doc.extends ?? []) {
      await visit(resolve(dirname(abs), ref), { source: id });
    }
  };
  await visit(rootAbs);

  const rootId = idOf(rootAbs);
  const policy = resolvePolicy(rootId, documents, (ref, fromId) =>
    idOf(resolve(dirname(absOf.get(fromId) ?? resolve(cwd, fromId)), ref)),
  );
  return { policy, files: policy.sources.map((id) => absOf.get(id) ?? resolve(cwd, id)) };
}

/**
 * Load a policy file and what it extends, and return the resolved policy (`loadPolicy` without the file list): the
 * one call an application needs for a `--policy FILE` setting. Throws PolicyError.
 *
 * @example
 * ```ts
 * import fs from "node:fs";
 * import { loadPolicyFile } from "qwen3guard";
 *
 * fs.writeFileSync("/tmp/strict.json", JSON.stringify({ mode: "strict", response: { categories: { PII: "flag" } } }));
 * const policy = await loadPolicyFile("/tmp/strict.json");
 * console.log(policy.response.categories.PII); // { Unsafe: "flag", Controversial: "flag" }
 * ```
 */
export async function loadPolicyFile(path: string): Promise<Policy> {
  return (await loadPolicy(path)).policy;
}
