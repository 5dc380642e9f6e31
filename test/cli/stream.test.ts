/**
 * The `stream` command, spawned as a user runs it, on the hand-crafted Stream model (src/model/synth/
 * crafted-stream.ts): the words "grenade"/"bomb" are scored Unsafe, everything else Safe, so where the guard must
 * stop is known in advance.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { writeCraftedStreamModel } from "../../src/model/synth/index.js";

const root = path.resolve(import.meta.dirname, "../..");
let work: string;
let model: string;

function cli(args: string[], input?: string) {
  const r = spawnSync(process.execPath, ["--import", "tsx", "src/cli/run.ts", ...args], {
    cwd: root,
    input,
    encoding: "utf8",
    env: { ...process.env, QWEN3GUARD_CACHE: path.join(work, "cache") },
    timeout: 120_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function events(stdout: string): Record<string, unknown>[] {
  return stdout
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

before(() => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), "qwen3guard-stream-cli-"));
  model = path.join(work, "crafted");
  writeCraftedStreamModel(model);
});

after(() => fs.rmSync(work, { recursive: true, force: true }));

test("stream --json replays the answer and stops at the second of two Unsafe tokens in a row", () => {
  const file = path.join(work, "chat.json");
  const answer = "Take the grenade to the shop, then a grenade bomb and more words after it.";
  fs.writeFileSync(
    file,
    JSON.stringify([
      { role: "user", content: "What should I do today?" },
      { role: "assistant", content: answer },
    ]),
  );
  const r = cli(["stream", "-m", model, "--quantization", "f32", "--messages", file, "--json"]);
  assert.equal(r.status, 0, r.stderr);
  const ev = events(r.stdout);
  assert.equal(ev[0]!.type, "prompt");
  assert.equal(ev[0]!.tier, "Safe");
  const tokens = ev.filter((e) => e.type === "token");
  assert.deepEqual(
    tokens.map((t) => t.index),
    tokens.map((_, i) => i),
  );
  assert.equal(tokens.map((t) => t.text).join(""), answer);
  const unsafe = tokens.filter((t) => t.tier === "Unsafe").map((t) => t.text);
  assert.deepEqual(unsafe, [" grenade", " grenade", " bomb"]);
  const trigger = ev.find((e) => e.type === "trigger")!;
  const bomb = tokens.find((t) => t.text === " bomb")!;
  assert.equal(
    trigger.index,
    bomb.index,
    "the isolated first grenade does not stop; the grenade-bomb pair does",
  );
  assert.equal(trigger.tier, "Unsafe");
  assert.equal(trigger.category, "Violent");
  const end = ev[ev.length - 1]!;
  assert.equal(end.type, "end");
  assert.equal((end.verdict as { tier: string }).tier, "Unsafe");
  assert.match(r.stderr, /synthetic model \(hand-set weights\)/);
});

test("stream --text - reads the answer from stdin; --stop-on-trigger stops there; --policy decides", () => {
  const file = path.join(work, "prompt.json");
  fs.writeFileSync(file, JSON.stringify([{ role: "user", content: "hello" }]));
  const policy = path.join(root, "examples/policies/chat-assistant.yaml");
  const args = ["stream", "-m", model, "--quantization", "f32", "--messages", file, "--text", "-", "--json"];
  const r = cli(
    [...args, "--stop-on-trigger", "--policy", policy],
    "one grenade bomb and then much more text here",
  );
  assert.equal(r.status, 0, r.stderr);
  const ev = events(r.stdout);
  const tokens = ev.filter((e) => e.type === "token");
  const end = ev[ev.length - 1]! as { verdict: { tier: string }; decision: { action: string } };
  assert.equal(end.verdict.tier, "Unsafe");
  assert.equal(end.decision.action, "block", "the example policy blocks Violent responses");
  const safe = cli(args, "a calm and friendly answer");
  const safeEnd = events(safe.stdout).pop() as { verdict: { tier: string } };
  assert.equal(safeEnd.verdict.tier, "Safe");
  assert.ok(tokens.length >= 3);
});

test("stream refuses a conversation without an answer to replay", () => {
  const file = path.join(work, "noanswer.json");
  fs.writeFileSync(file, JSON.stringify([{ role: "user", content: "hello" }]));
  const r = cli(["stream", "-m", model, "--messages", file]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /last message must be the assistant's answer to replay \(or pass --text -\)/);
});
