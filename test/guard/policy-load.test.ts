import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, mkdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PolicyError, PolicyExtendsCycleError } from "../../src/core/policy/index.js";
import { loadPolicy, loadPolicyFile } from "../../src/guard/policy/index.js";

function dir(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), "q3g-policy-"));
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(join(root, name, ".."), { recursive: true });
    writeFileSync(join(root, name), text);
  }
  return root;
}

async function rejects(promise: Promise<unknown>): Promise<PolicyError> {
  try {
    await promise;
  } catch (e) {
    assert.ok(e instanceof PolicyError, String(e));
    return e;
  }
  assert.fail("expected a PolicyError");
}

test("YAML and JSON files load; extends paths are relative to the file naming them", async () => {
  const root = dir({
    "company/base.json": JSON.stringify({ mode: "loose", response: { categories: { PII: "block" } } }),
    "products/chat.yaml": "extends: ../company/base.json\nresponse:\n  categories:\n    PII: allow\n",
  });
  const { policy, files } = await loadPolicy("products/chat.yaml", root);
  assert.equal(policy.mode, "loose");
  assert.deepEqual(policy.response.categories.PII, { Unsafe: "allow", Controversial: "allow" });
  assert.deepEqual(policy.sources, ["company/base.json", "products/chat.yaml"]);
  assert.deepEqual(files, [join(root, "company/base.json"), join(root, "products/chat.yaml")]);
});

test("schema errors name the file (the parent's, when the parent is broken) and the path", async () => {
  const root = dir({
    "base.yaml": "response:\n  categories:\n    Jailbreak: block\n",
    "child.yaml": "extends: base.yaml\n",
  });
  const e = await rejects(loadPolicy("child.yaml", root));
  assert.match(
    e.message,
    /^base\.yaml: response\.categories\.Jailbreak: "Jailbreak" is a prompt-only category/,
  );
});

test("YAML syntax errors give the line", async () => {
  const root = dir({ "p.yaml": "mode: strict\nmode: loose\n" });
  const e = await rejects(loadPolicy("p.yaml", root));
  assert.match(e.message, /^p\.yaml: line 2, column 1: not valid YAML\/JSON: Map keys must be unique/);
});

test("missing files: the root, or a parent named by extends", async () => {
  const root = dir({ "child.yaml": "extends: ./nope.yaml\n" });
  assert.match(
    (await rejects(loadPolicy("absent.yaml", root))).message,
    /^absent\.yaml: cannot read the policy file: no such file$/,
  );
  assert.match(
    (await rejects(loadPolicy("child.yaml", root))).message,
    /^child\.yaml: extends: cannot read "nope\.yaml": no such file$/,
  );
});

test("cycles across files are reported with the chain of files", async () => {
  const root = dir({ "a.yaml": "extends: sub/b.yaml\n", "sub/b.yaml": "extends: ../a.yaml\n" });
  const e = await rejects(loadPolicy("a.yaml", root));
  assert.ok(e instanceof PolicyExtendsCycleError);
  assert.deepEqual(e.chain, ["a.yaml", "sub/b.yaml", "a.yaml"]);
});

test("loadPolicyFile resolves against the working directory", async () => {
  const root = dir({ "p.json": '{ "mode": "loose" }' });
  assert.equal((await loadPolicyFile(join(root, "p.json"))).mode, "loose");
});
