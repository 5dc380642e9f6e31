/**
 * The npm package and its install: what `npm ci` pulls in, what `npm pack` ships, and that what ships works on its
 * own.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { repoRoot } from "../helpers/repo-data.js";

interface PackageJson {
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
}

function readJson<T>(file: string): T {
  return JSON.parse(fs.readFileSync(path.join(repoRoot, file), "utf8")) as T;
}

test("npm ci installs nothing that downloads from outside npm, so no .npmrc workaround is needed", () => {
  const lock = readJson<{ packages: Record<string, unknown> }>("package-lock.json");
  // onnxruntime-node's postinstall fetches binaries from GitHub; it came in with @huggingface/transformers.
  const outside = Object.keys(lock.packages).filter((p) => /(^|\/)node_modules\/onnxruntime-/.test(p));
  assert.deepEqual(outside, []);
  assert.equal(fs.existsSync(path.join(repoRoot, ".npmrc")), false, ".npmrc holds no project settings");
});

test("the reference tokenizer of the parity tests is Hugging Face's tokenizers.js, pinned, for tests only", () => {
  const pkg = readJson<PackageJson>("package.json");
  assert.equal(pkg.devDependencies?.["@huggingface/tokenizers"], "0.2.0");
  assert.equal(pkg.devDependencies?.["@huggingface/transformers"], undefined);
  assert.equal(pkg.dependencies?.["@huggingface/tokenizers"], undefined);
});
