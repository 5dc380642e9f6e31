/**
 * The repository stands alone: nothing it ships or runs reads or names files outside the clone, and the data it
 * carries for tests stays out of the npm package.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { dataDir, repoRoot } from "../helpers/repo-data.js";

// Built from parts so that this file does not match itself.
const FORBIDDEN = [
  [".." + "/shared", "a folder beside the clone"],
  ["shared" + "/reference", "notes beside the clone"],
  ["shared" + "/datasets", "data beside the clone (use data/)"],
  ["ENGINE" + "-NOTES", "notes users do not have"],
  ["QWEN3GUARD" + ".md", "notes users do not have"],
  ["SERVING" + ".md", "notes users do not have"],
  ["/work" + "/", "a path of one machine"],
] as const;

const SCANNED = ["src", "test", "bench", "scripts", "docs", "examples", "data/README.md", "README.md", ".ci"];

function trackedFiles(): string[] {
  const out = execFileSync("git", ["ls-files", "-z", "--", ...SCANNED], { cwd: repoRoot, encoding: "utf8" });
  return out.split("\0").filter((f) => f.length > 0 && fs.existsSync(path.join(repoRoot, f)));
}

test("no tracked source, test, benchmark, script or doc reads or names anything outside the repository", () => {
  const files = trackedFiles();
  assert.ok(files.length > 100, `git lists ${files.length} files: run the tests from a git clone`);
  const hits: string[] = [];
  for (const file of files) {
    const buf = fs.readFileSync(path.join(repoRoot, file));
    if (buf.includes(0)) continue; // binary
    const lines = buf.toString("utf8").split("\n");
    lines.forEach((line, i) => {
      for (const [needle, why] of FORBIDDEN) {
        if (line.includes(needle)) hits.push(`${file}:${i + 1} names ${JSON.stringify(needle)} (${why})`);
      }
    });
  }
  assert.deepEqual(hits, []);
});

test("the data the tests read is in the repository, with a licence beside each data set", () => {
  const readme = fs.readFileSync(path.join(dataDir, "README.md"), "utf8");
  const datasets = fs.readdirSync(path.join(dataDir, "datasets"));
  const data = datasets.filter((f) => !/\.(LICENSE|NOTICE)$/.test(f));
  assert.ok(data.length >= 5, `data sets: ${data.join(", ")}`);
  for (const file of data) {
    assert.ok(readme.includes(`\`${file}\``), `data/README.md describes ${file}`);
  }
  // every licence file the README links exists
  for (const [, link] of readme.matchAll(/\]\((datasets\/[^)]+)\)/g)) {
    assert.ok(fs.existsSync(path.join(dataDir, link!)), `data/README.md links ${link}, which exists`);
  }
  for (const name of ["messages.json", "gen-prompt-moderation.txt", "gen-response-moderation.txt"]) {
    assert.ok(fs.existsSync(path.join(dataDir, "fixtures", name)), `data/fixtures/${name}`);
  }
});

test("the npm package carries no data sets, tests or benchmarks", () => {
  // --ignore-scripts: packing must not rebuild dist/ (prepare) for a listing
  const out = execFileSync("npm", ["pack", "--dry-run", "--json", "--ignore-scripts"], {
    cwd: repoRoot,
    encoding: "utf8",
    stdio: ["ignore", "pipe", "ignore"],
  });
  const [pack] = JSON.parse(out) as { files: { path: string }[] }[];
  const paths = pack!.files.map((f) => f.path);
  assert.ok(paths.includes("package.json"));
  const leaked = paths.filter((p) => /^(data|test|bench|\.cache)\//.test(p) || /\.(jsonl|csv|gz)$/.test(p));
  assert.deepEqual(leaked, []);
});
