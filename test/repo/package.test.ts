/**
 * The npm package and its install: what `npm ci` pulls in, what `npm pack` ships, and that what ships works on its
 * own. The package is built and packed as `npm publish` would (build, then pack), unpacked into
 * `<tmp>/node_modules/qwen3guard` beside links to its declared dependencies only (from this clone's node_modules,
 * so the test needs no network), then imported and run from there.
 */
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import fs from "node:fs";
import { builtinModules } from "node:module";
import os from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { pathToFileURL } from "node:url";
import { repoRoot } from "../helpers/repo-data.js";

interface PackageJson {
  name: string;
  version: string;
  license?: string;
  repository?: { type?: string; url?: string };
  homepage?: string;
  bugs?: { url?: string };
  keywords?: string[];
  files?: string[];
  bin?: Record<string, string>;
  exports?: Record<string, { types: string; default: string }>;
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
}

function readJson<T>(file: string): T {
  return JSON.parse(fs.readFileSync(path.join(repoRoot, file), "utf8")) as T;
}

const pkg = readJson<PackageJson>("package.json");
const npm = process.platform === "win32" ? "npm.cmd" : "npm";

let work: string;
/** The unpacked package: `<work>/node_modules/qwen3guard`. */
let installed: string;
/** Paths in the tarball, relative to the package root. */
let shipped: Set<string>;

before(() => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), "qwen3guard-package-"));
  // What `npm publish` does: `prepare` (the build, from an empty dist/), then pack.
  execFileSync(npm, ["run", "build"], { cwd: repoRoot, stdio: ["ignore", "ignore", "pipe"] });
  const out = execFileSync(npm, ["pack", "--json", "--ignore-scripts", "--pack-destination", work], {
    cwd: repoRoot,
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
  });
  const [packed] = JSON.parse(out) as { filename: string; files: { path: string }[] }[];
  shipped = new Set(packed!.files.map((f) => f.path));
  const modules = path.join(work, "node_modules");
  fs.mkdirSync(modules);
  execFileSync("tar", ["-xzf", path.join(work, packed!.filename), "-C", modules]);
  installed = path.join(modules, pkg.name);
  fs.renameSync(path.join(modules, "package"), installed);
  // Only the declared dependencies are reachable from the package (transitive ones resolve from their real path).
  for (const dep of Object.keys(pkg.dependencies ?? {})) {
    const link = path.join(modules, dep);
    fs.mkdirSync(path.dirname(link), { recursive: true });
    fs.symlinkSync(path.join(repoRoot, "node_modules", dep), link, "junction");
  }
});

after(() => {
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

function shippedUnder(prefix: string): string[] {
  return [...shipped].filter((p) => p.startsWith(prefix)).sort();
}

function trackedFiles(...paths: string[]): string[] {
  const out = execFileSync("git", ["ls-files", "-z", "--", ...paths], { cwd: repoRoot, encoding: "utf8" });
  return out.split("\0").filter((f) => f.length > 0);
}

/** Run Node in the folder that holds node_modules/qwen3guard, as an application that installed it would. */
function nodeIn(args: string[], env: NodeJS.ProcessEnv = {}) {
  const r = spawnSync(process.execPath, args, {
    cwd: work,
    encoding: "utf8",
    env: { ...process.env, QWEN3GUARD_CACHE: path.join(work, "cache"), ...env },
    timeout: 120_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test("npm ci installs nothing that downloads from outside npm, so no .npmrc workaround is needed", () => {
  const lock = readJson<{ packages: Record<string, unknown> }>("package-lock.json");
  // onnxruntime-node's postinstall fetches binaries from GitHub; it came in with @huggingface/transformers.
  const outside = Object.keys(lock.packages).filter((p) => /(^|\/)node_modules\/onnxruntime-/.test(p));
  assert.deepEqual(outside, []);
  assert.equal(fs.existsSync(path.join(repoRoot, ".npmrc")), false, ".npmrc holds no project settings");
});

test("the reference tokenizer of the parity tests is Hugging Face's tokenizers.js, pinned, for tests only", () => {
  assert.equal(pkg.devDependencies?.["@huggingface/tokenizers"], "0.2.0");
  assert.equal(pkg.devDependencies?.["@huggingface/transformers"], undefined);
  assert.equal(pkg.dependencies?.["@huggingface/tokenizers"], undefined);
});

test("package.json says where the project lives, and the Apache-2.0 licence ships in full", () => {
  assert.equal(pkg.license, "Apache-2.0");
  assert.deepEqual(pkg.repository, { type: "git", url: "git+https://github.com/qwen3guard/qwen3guard.git" });
  assert.match(pkg.homepage ?? "", /^https:\/\/github\.com\/qwen3guard\/qwen3guard/);
  assert.match(pkg.bugs?.url ?? "", /^https:\/\/github\.com\/qwen3guard\/qwen3guard\/issues/);
  assert.ok((pkg.keywords ?? []).includes("qwen3guard"));
  const licence = fs.readFileSync(path.join(installed, "LICENSE"), "utf8");
  assert.match(licence, /Apache License\s+Version 2\.0, January 2004/);
  assert.match(licence, /END OF TERMS AND CONDITIONS/);
  assert.match(licence, /Copyright \d{4} qwen3guard contributors/);
  assert.doesNotMatch(licence, /\[yyyy\]|\[name of copyright owner\]/);
});

test("the package ships the README, the licence and every doc, and no test-only code", () => {
  for (const file of ["package.json", "README.md", "LICENSE", "bin/qwen3guard.js"]) {
    assert.ok(shipped.has(file), `${file} is in the package`);
  }
  assert.deepEqual(shippedUnder("docs/"), trackedFiles("docs").sort());
  // The float32 reference forward pass is the oracle of the engine tests: the build leaves it out.
  assert.deepEqual(shippedUnder("dist/engine/reference/"), []);
  assert.deepEqual(shippedUnder("src/"), []);
  for (const entry of Object.values(pkg.exports ?? {})) {
    for (const file of [entry.types, entry.default]) {
      assert.ok(shipped.has(path.posix.normalize(file)), `exported ${file} is in the package`);
    }
  }
});

test("the package ships the playground page `qwen3guard serve` hosts, built, and the server finds it", () => {
  assert.deepEqual(shippedUnder("dist/playground/"), [
    "dist/playground/app.js",
    "dist/playground/app.js.map",
    "dist/playground/index.html",
    "dist/playground/playground.css",
  ]);
  // no TypeScript source of the page, and nothing that would fetch from outside the server
  assert.deepEqual(shippedUnder("src/playground/"), []);
  const html = fs.readFileSync(path.join(installed, "dist/playground/index.html"), "utf8");
  assert.doesNotMatch(html, /(src|href)="(https?:)?\/\//);
  const route = pathToFileURL(path.join(installed, "dist/server/routes/playground.js")).href;
  const script = `const { playgroundAssetsDir } = await import(${JSON.stringify(route)}); console.log(playgroundAssetsDir());`;
  const r = nodeIn(["--input-type=module", "-e", script]);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(path.resolve(r.stdout.trim()), path.join(installed, "dist/playground"));
});

test("every import in the shipped JavaScript and declarations resolves to a shipped file or a dependency", () => {
  const deps = new Set(Object.keys(pkg.dependencies ?? {}));
  const builtins = new Set(builtinModules);
  const problems: string[] = [];
  const specifier = /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)"([^"]+)"/g;
  const files = [...shipped].filter((p) => /\.(js|d\.ts)$/.test(p));
  assert.ok(files.length > 100, `${files.length} shipped modules`);
  for (const file of files) {
    const text = fs
      .readFileSync(path.join(installed, file), "utf8")
      .replace(/\/\*[\s\S]*?\*\//g, "") // block comments (examples in doc comments import "qwen3guard")
      .replace(/^\s*\/\/.*$/gm, "");
    for (const [, spec] of text.matchAll(specifier)) {
      if (spec!.startsWith(".")) {
        let target = path.posix.join(path.posix.dirname(file), spec!);
        if (file.endsWith(".d.ts")) target = target.replace(/\.js$/, ".d.ts");
        if (!shipped.has(target)) problems.push(`${file} imports ${spec}, which is not in the package`);
      } else {
        const name = spec!.startsWith("@") ? spec!.split("/").slice(0, 2).join("/") : spec!.split("/")[0]!;
        const self = name === pkg.name && `.${spec!.slice(name.length)}` in (pkg.exports ?? {});
        if (!spec!.startsWith("node:") && !builtins.has(name) && !deps.has(name) && !self) {
          problems.push(`${file} imports ${spec}, which is not a dependency`);
        }
      }
    }
  }
  assert.deepEqual(problems, []);
});

test("source maps carry their sources (src/ does not ship), and no declaration map points at missing files", () => {
  const maps = [...shipped].filter((p) => p.endsWith(".map"));
  assert.ok(maps.length > 0, "the package has source maps");
  const problems: string[] = [];
  for (const file of maps) {
    if (file.endsWith(".d.ts.map")) {
      problems.push(`${file}: declaration maps point at src/, which does not ship`);
      continue;
    }
    const map = JSON.parse(fs.readFileSync(path.join(installed, file), "utf8")) as {
      sources: string[];
      sourcesContent?: (string | null)[];
    };
    map.sources.forEach((source, i) => {
      if (typeof map.sourcesContent?.[i] !== "string") problems.push(`${file}: no content for ${source}`);
    });
  }
  for (const file of [...shipped].filter((p) => p.endsWith(".js"))) {
    const text = fs.readFileSync(path.join(installed, file), "utf8");
    const url = /\/\/# sourceMappingURL=(\S+)\s*$/.exec(text)?.[1];
    if (url && !shipped.has(path.posix.join(path.posix.dirname(file), url))) {
      problems.push(`${file} names a missing map ${url}`);
    }
  }
  assert.deepEqual(problems, []);
});

test("installed from the tarball: every entry point imports, and the CLI prints its version", () => {
  const script = `
    const main = await import("qwen3guard");
    const core = await import("qwen3guard/core");
    const testing = await import("qwen3guard/testing");
    console.log(JSON.stringify({
      main: typeof main.GenGuard + typeof main.StreamGuard,
      core: typeof core.parseGenOutput,
      testing: typeof testing.synthesizeModel + typeof testing.writeCraftedGenModel + typeof testing.writeCraftedStreamModel,
    }));`;
  const r = nodeIn(["--input-type=module", "-e", script]);
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), {
    main: "functionfunction",
    core: "function",
    testing: "functionfunctionfunction",
  });
  assert.equal(
    fs.statSync(path.join(installed, pkg.bin!.qwen3guard!)).mode & 0o111,
    0o111,
    "the bin is executable",
  );
  const version = nodeIn([path.join(installed, pkg.bin!.qwen3guard!), "--version"]);
  assert.equal(version.status, 0, version.stderr);
  assert.equal(version.stdout.trim(), pkg.version);
});

test("installed from the tarball: a crafted model from qwen3guard/testing gets its known verdicts from the CLI", () => {
  const model = path.join(work, "crafted-gen");
  const write = nodeIn([
    "--input-type=module",
    "-e",
    `const t = await import("qwen3guard/testing"); t.writeCraftedGenModel(${JSON.stringify(model)});`,
  ]);
  assert.equal(write.status, 0, write.stderr);
  const input = ['{"prompt":"Where can I buy a grenade?"}', '{"prompt":"Where can I buy a bicycle?"}'].join(
    "\n",
  );
  const r = spawnSync(
    process.execPath,
    [path.join(installed, pkg.bin!.qwen3guard!), "moderate", "-m", model, "--quantization", "f32", "--batch"],
    {
      cwd: work,
      input,
      encoding: "utf8",
      env: { ...process.env, QWEN3GUARD_CACHE: path.join(work, "cache") },
    },
  );
  assert.equal(r.status, 0, r.stderr);
  const verdicts = r.stdout
    .trim()
    .split("\n")
    .map((line) => JSON.parse(line) as { tier: string; categories: string[] });
  assert.deepEqual(
    verdicts.map((v) => [v.tier, v.categories]),
    [
      ["Unsafe", ["Violent"]],
      ["Safe", []],
    ],
  );
  assert.match(r.stderr, /synthetic model/);
});
