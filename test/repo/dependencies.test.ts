/**
 * package.json's `dependencies` are what the shipped code needs, nothing more: every one is imported (or resolved,
 * for a package shipping data) by src/ or bin/; a package that only the benchmarks, tests or scripts use belongs in
 * devDependencies. An installed qwen3guard then pulls in no package it never loads. (The converse, every import of
 * the shipped code being a dependency, is checked on the packed tarball in package.test.ts.)
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import { createRequire } from "node:module";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { repoRoot } from "../helpers/repo-data.js";

const pkg = JSON.parse(fs.readFileSync(path.join(repoRoot, "package.json"), "utf8")) as {
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
};

function files(dir: string): string[] {
  return fs
    .readdirSync(path.join(repoRoot, dir), { withFileTypes: true })
    .flatMap((e) =>
      e.isDirectory()
        ? files(path.join(dir, e.name))
        : /\.(ts|js|mjs)$/.test(e.name)
          ? [path.join(dir, e.name)]
          : [],
    );
}

/** Package names a source file imports (static, dynamic, type-only) or resolves (`require.resolve("x/...")`). */
function packagesOf(file: string): Set<string> {
  const text = fs.readFileSync(file, "utf8");
  const names = new Set<string>();
  const specifier = /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+|\bresolve\s*\(\s*)"([^"]+)"/g;
  for (const [, spec] of text.matchAll(specifier)) {
    if (spec!.startsWith(".") || spec!.startsWith("node:")) continue;
    names.add(spec!.startsWith("@") ? spec!.split("/").slice(0, 2).join("/") : spec!.split("/")[0]!);
  }
  return names;
}

/** Package name → the files (absolute) that import it, over the given folders of the repository. */
function usedBy(dirs: readonly string[]): Map<string, string[]> {
  const used = new Map<string, string[]>();
  for (const file of dirs.flatMap(files).map((f) => path.join(repoRoot, f))) {
    for (const name of packagesOf(file)) used.set(name, [...(used.get(name) ?? []), file]);
  }
  return used;
}

test("every dependency is used by the shipped code (src/, bin/)", () => {
  const shipped = usedBy(["src", "bin"]);
  const unused = Object.keys(pkg.dependencies ?? {}).filter((name) => !shipped.has(name));
  assert.deepEqual(unused, [], "dependencies that src/ and bin/ never import: make them devDependencies");
});

test("the dependency scan sees static, dynamic, type-only and resolved imports, and skips relative ones", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "q3g-deps-scan-"));
  try {
    const file = path.join(dir, "sample.ts");
    fs.writeFileSync(
      file,
      [
        'import { a } from "pkg-a";',
        'import type { B } from "@scope/pkg-b/sub";',
        'const c = await import("pkg-c");',
        'require.resolve("pkg-d/models/x.json");',
        'import "pkg-e";',
        'import { f } from "./local.js";',
        'import fs from "node:fs";',
      ].join("\n"),
    );
    assert.deepEqual([...packagesOf(file)].sort(), ["@scope/pkg-b", "pkg-a", "pkg-c", "pkg-d", "pkg-e"]);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("every package the lock file installs supports the Node versions package.json promises (npm ci warns no EBADENGINE)", () => {
  // semver is node-llama-cpp's own dependency (the lock pins it); npm compares engines with it too
  const semver = createRequire(import.meta.url)("semver") as {
    minVersion(range: string): { version: string } | null;
    validRange(range: string): string | null;
    satisfies(version: string, range: string): boolean;
  };
  const promised = (
    JSON.parse(fs.readFileSync(path.join(repoRoot, "package.json"), "utf8")) as {
      engines: { node: string };
    }
  ).engines.node;
  const lowest = semver.minVersion(promised)!.version;
  const lock = JSON.parse(fs.readFileSync(path.join(repoRoot, "package-lock.json"), "utf8")) as {
    packages: Record<string, { engines?: { node?: string } | string[]; optional?: boolean; dev?: boolean }>;
  };
  const refused = Object.entries(lock.packages).flatMap(([where, p]) => {
    const range = !Array.isArray(p.engines) ? p.engines?.node : undefined;
    if (!where || p.optional || range === undefined || semver.validRange(range) === null) return [];
    // what a user installs must run on the oldest Node promised; the development tools on the Node running here
    const runs =
      semver.satisfies(process.version, range) && (p.dev === true || semver.satisfies(lowest, range));
    return runs ? [] : [`${where} (node ${range})`];
  });
  assert.deepEqual(
    refused,
    [],
    `packages that need a newer Node than ${promised}: pin older ones (overrides)`,
  );
});
