/**
 * Typed errors: every error class the package entry exports extends Qwen3GuardError, docs/errors.md lists every
 * class and every code the sources give an error, and errors users meet carry their code.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import * as entry from "../../src/guard/index.js";
import { repoRoot } from "../helpers/repo-data.js";

const CODE = /^[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+$/;

type ErrorClass = new (...args: never[]) => Error;

function isErrorClass(value: unknown): value is ErrorClass {
  return typeof value === "function" && value.prototype instanceof Error;
}

function exportedErrorClasses(): [string, ErrorClass][] {
  const entries: [string, unknown][] = Object.entries(entry);
  return entries.filter((e): e is [string, ErrorClass] => isErrorClass(e[1]));
}

function sourceFiles(dir: string): string[] {
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .flatMap((e) =>
      e.isDirectory()
        ? sourceFiles(path.join(dir, e.name))
        : e.name.endsWith(".ts")
          ? [path.join(dir, e.name)]
          : [],
    );
}

// The library's and the CLI's tables: everything before the HTTP server's own section (tested with the server).
const docs = fs.readFileSync(path.join(repoRoot, "docs", "errors.md"), "utf8").split(/^## HTTP server/m)[0]!;
const documentedCodes = new Set([...docs.matchAll(/^\| `([A-Z0-9_]+)`\s*\|/gm)].map((m) => m[1]!));

test("every error class the package exports is a Qwen3GuardError and is documented", () => {
  const classes = exportedErrorClasses();
  assert.ok(classes.length >= 40, `${classes.length} error classes exported`);
  for (const [name, cls] of classes) {
    assert.ok(
      cls === entry.Qwen3GuardError || cls.prototype instanceof entry.Qwen3GuardError,
      `${name} extends Qwen3GuardError`,
    );
    if (cls !== entry.Qwen3GuardError)
      assert.ok(docs.includes(`\`${name}\``), `docs/errors.md lists ${name}`);
  }
});

test("the codes the sources give errors are exactly the codes docs/errors.md lists", () => {
  const names = exportedErrorClasses().map(([n]) => n);
  const inSources = new Set<string>();
  const layers = ["core", "model", "engine", "guard", "cli"].map((l) => path.join(repoRoot, "src", l));
  for (const file of layers.flatMap(sourceFiles)) {
    const text = fs.readFileSync(file, "utf8");
    // files that define error classes: every SCREAMING_SNAKE literal there is a code
    if (!names.some((n) => new RegExp(`class \\w+ extends ${n}\\b`).test(text))) continue;
    for (const [, literal] of text.matchAll(/"([A-Z][A-Z0-9_]+)"/g)) {
      if (CODE.test(literal!)) inSources.add(literal!);
    }
  }
  assert.deepEqual([...inSources].sort(), [...documentedCodes].sort());
});

test("errors a user meets carry their code", async () => {
  await assert.rejects(
    entry.GenGuard.load({ model: path.join(repoRoot, "no-such-model-folder") }),
    (e: unknown) => entry.isQwen3GuardError(e, "MODEL_NOT_FOUND") && e instanceof entry.ModelSpecError,
  );
  assert.throws(
    () => entry.parseChatMessages([]),
    (e: unknown) => entry.isQwen3GuardError(e, "INVALID_CONVERSATION"),
  );
  const error = new entry.StreamContextFullError(10, 5);
  assert.equal(error.code, "STREAM_CONTEXT_FULL");
  assert.equal(error.name, "StreamContextFullError");
  assert.ok(error instanceof entry.StreamGuardError);
});
