/**
 * The README runs as written: its commands use `npx qwen3guard`, the files they name exist, its toy walkthrough
 * (`synth --crafted`, a real block, a real stop) and its usage commands run through the CLI, and its library
 * example is examples/library.mjs, which runs. `npx qwen3guard` is replaced by the CLI from source, and the model
 * names by the toy models (real weights cannot be downloaded here).
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

const root = path.resolve(import.meta.dirname, "../..");
const readme = fs.readFileSync(path.join(root, "README.md"), "utf8");
let work: string;

before(() => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), "qwen3guard-readme-"));
});
after(() => fs.rmSync(work, { recursive: true, force: true }));

/** The fenced blocks of a README section (### heading), in order. */
function blocks(heading: string, lang = "sh"): string[] {
  const section = readme.split(`\n### ${heading}\n`)[1]?.split(/\n##+ /)[0];
  assert.ok(section, `README has a "### ${heading}" section`);
  return [...section.matchAll(new RegExp("```" + lang + "\\n([\\s\\S]*?)```", "g"))].map((m) => m[1]!);
}

/** Run README shell lines from the repository root with `npx qwen3guard` as the CLI from source. */
function sh(script: string, replace: [string, string][] = []) {
  let text = script.replaceAll("npx qwen3guard ", "node --import tsx src/cli/run.ts ");
  for (const [from, to] of replace) text = text.replaceAll(from, to);
  const r = spawnSync("bash", ["-euo", "pipefail", "-c", text], {
    cwd: root,
    encoding: "utf8",
    env: { ...process.env, QWEN3GUARD_CACHE: path.join(work, "cache"), NO_COLOR: "1", FORCE_COLOR: "" },
    timeout: 300_000,
  });
  assert.equal(r.status, 0, `${text}\n${r.stderr}`);
  return r;
}

test("every command in the README's shell blocks is `npx qwen3guard …`, and the example files it names exist", () => {
  for (const [, block] of readme.matchAll(/```sh\n([\s\S]*?)```/g)) {
    for (const line of block!.split("\n")) {
      assert.doesNotMatch(line, /(^|[|;&]\s*)qwen3guard /, `README: "${line}" should run \`npx qwen3guard\``);
    }
  }
  for (const [file] of readme.matchAll(/examples\/[\w./-]+\.(?:jsonl|json|yaml|mjs)/g)) {
    assert.ok(fs.existsSync(path.join(root, file)), `README names ${file}`);
  }
});

test("the toy walkthrough: synth --crafted labels the toy and names its words; moderate blocks (3); stream stops", () => {
  const [walkthrough] = blocks("Try it without a download: toy models");
  const r = sh(walkthrough!, [["/tmp/qwen3guard-toy-", path.join(work, "toy-")]]);
  // synth --crafted: the trigger words and the toy label
  assert.match(
    r.stdout,
    /^synth: crafted gen → .*toy-gen \(a TOY model with hand-set weights: .*mean nothing about safety\)$/m,
  );
  assert.match(r.stdout, /^trigger word: "grenade" — a prompt containing it is Unsafe \(Violent\)/m);
  assert.match(r.stdout, /^unsafe words: "grenade", "bomb" — /m);
  assert.match(r.stderr, /^qwen3guard: warning: .*toy-gen is a TOY model/m);
  // moderate: a real Unsafe verdict, then a real block with exit status 3
  const verdicts = r.stdout.match(/^Unsafe \(Violent\) {2}\[prompt moderation\]$/gm) ?? [];
  assert.equal(verdicts.length, 2);
  assert.match(r.stdout, /^BLOCK: prompt verdict Unsafe, category Violent$/m);
  assert.match(r.stdout, /^policy mode: loose \(from policy examples\/policies\/chat-assistant\.yaml\)$/m);
  assert.match(r.stdout, /^exit status 3$/m);
  // stream: the answer up to the stop, nothing after
  assert.match(r.stdout, /^Pack a map, a grenade bomb\n/m);
  assert.doesNotMatch(r.stdout, /kit/);
  assert.match(r.stderr, /stopped at token \d+ \(Unsafe pair\)/);
});

test("the README's Gen and Stream usage commands run with the example files (toy models for the hub names)", () => {
  const gen = path.join(work, "toy-gen");
  const stream = path.join(work, "toy-stream");
  const replace: [string, string][] = [
    ["Qwen/Qwen3Guard-Gen-0.6B", gen],
    ["Qwen/Qwen3Guard-Stream-0.6B", stream],
    ["> verdicts.jsonl", `> ${path.join(work, "verdicts.jsonl")}`],
    ["cat answer.txt", "echo 'A calm answer about a lighthouse.'"],
  ];
  if (!fs.existsSync(gen)) sh(`npx qwen3guard synth --crafted --kind gen --out ${gen} --force`);
  if (!fs.existsSync(stream)) sh(`npx qwen3guard synth --crafted --kind stream --out ${stream} --force`);
  const genRun = sh(blocks("Gen moderation")[0]!, replace);
  assert.equal(
    (genRun.stdout.match(/^\{"direction":"response"/gm) ?? []).length,
    1,
    "--messages chat.json --json",
  );
  const batch = fs.readFileSync(path.join(work, "verdicts.jsonl"), "utf8").trim().split("\n");
  assert.deepEqual(
    batch.map((l) => (JSON.parse(l) as { line: number }).line),
    [1, 2, 3],
  );
  const streamRun = sh(blocks("Stream moderation")[0]!, replace);
  const events = streamRun.stdout
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as { type: string });
  assert.deepEqual([events[0]!.type, events[events.length - 1]!.type], ["prompt", "end"]);
});

test("the README's library example is examples/library.mjs, and it runs (on the toy models)", () => {
  const [shown] = blocks("Library", "js");
  const file = fs.readFileSync(path.join(root, "examples/library.mjs"), "utf8");
  assert.equal(shown, file);
  const gen = path.join(work, "lib-gen");
  const stream = path.join(work, "lib-stream");
  sh(
    `npx qwen3guard synth --crafted --kind gen --out ${gen} && npx qwen3guard synth --crafted --kind stream --out ${stream}`,
  );
  // `import … from "qwen3guard"` resolves to src/ here (test/helpers/self-import.mjs), to dist/ for a user.
  const r = sh(
    `node --import tsx --import ./test/helpers/self-import.mjs examples/library.mjs ${gen} ${stream}`,
  );
  assert.equal(r.stdout, 'Gen: Unsafe Violent\nStream: stop at answer token 6 " bomb" (Unsafe, Violent)\n');
});
