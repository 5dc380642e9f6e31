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

function cli(args: string[], input?: string, env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, ["--import", "tsx", "src/cli/run.ts", ...args], {
    cwd: root,
    input,
    encoding: "utf8",
    env: {
      ...process.env,
      NO_COLOR: "",
      FORCE_COLOR: "",
      QWEN3GUARD_CACHE: path.join(work, "cache"),
      ...env,
    },
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
  assert.equal(r.status, 3, "the policy blocks: exit status 3");
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

function conversation(name: string, answer?: string): string {
  const file = path.join(work, name);
  const messages: { role: string; content: string }[] = [
    { role: "user", content: "What should I do today?" },
  ];
  if (answer !== undefined) messages.push({ role: "assistant", content: answer });
  fs.writeFileSync(file, JSON.stringify(messages));
  return file;
}

const F32 = ["--quantization", "f32"];

test("--stop-on-trigger (replay, terminal output): nothing after the triggering token is printed", () => {
  // " and" is held back by the incremental tokenizer until the end: it must not be flushed and printed.
  const file = conversation("stop-replay.json", "one grenade bomb and then a bomb grenade with more words");
  const r = cli(["stream", "-m", model, ...F32, "--messages", file, "--stop-on-trigger"]);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, "one grenade bomb\n");
  assert.match(
    r.stderr,
    /answer: Unsafe at answer token 2 \(Violent\); 3 tokens; stopped at token 2 \(Unsafe pair\)/,
  );
});

test("--stop-on-trigger with the answer already buffered on stdin (--text -): no token after the trigger", () => {
  const file = conversation("stop-stdin.json");
  const r = cli(
    ["stream", "-m", model, ...F32, "--messages", file, "--text", "-", "--stop-on-trigger", "--json"],
    "one grenade bomb and then a bomb grenade with many more words after it",
  );
  assert.equal(r.status, 0, r.stderr);
  const ev = events(r.stdout);
  const trigger = ev.find((e) => e.type === "trigger")!;
  const tokens = ev.filter((e) => e.type === "token");
  assert.equal(tokens.map((t) => t.text).join(""), "one grenade bomb");
  assert.equal(tokens[tokens.length - 1]!.index, trigger.index);
  assert.equal(ev.indexOf(trigger), ev.length - 2, "the trigger is the last event before end");
  const end = ev[ev.length - 1] as {
    type: string;
    stopped: boolean;
    verdict: { tier: string; tokens: number };
  };
  assert.equal(end.type, "end");
  assert.equal(end.stopped, true);
  assert.deepEqual([end.verdict.tier, end.verdict.tokens], ["Unsafe", 3], "the verdict covers what was read");
});

test("the stop rule takes the policy's mode: a loose policy does not stop on a Controversial pair; exit 3 on block", () => {
  const loose = path.join(work, "loose.yaml");
  fs.writeFileSync(loose, "mode: loose\n");
  const file = conversation("contro.json", "a protest riot then a grenade bomb and more words");
  const args = ["stream", "-m", model, ...F32, "--messages", file, "--stop-on-trigger"];
  const r = cli([...args, "--json", "--policy", loose]);
  assert.equal(r.status, 3, "a block exits 3");
  const ev = events(r.stdout);
  const trigger = ev.find((e) => e.type === "trigger")! as { tier: string; text: string; mode: string };
  assert.deepEqual([trigger.tier, trigger.text, trigger.mode], ["Unsafe", " bomb", "loose"]);
  const end = ev[ev.length - 1] as { decision: { action: string; mode: string }; settings: unknown };
  assert.equal(end.decision.action, "block");
  assert.equal(end.decision.mode, "loose");
  const settings = {
    rule: "official",
    ruleFrom: "default",
    mode: "loose",
    modeFrom: "policy",
    policyFile: loose,
    stopOnTrigger: true,
  };
  assert.deepEqual(end.settings, settings);
  assert.deepEqual((ev[0] as { settings: unknown }).settings, settings);

  // Human output says the same; a contradicting --mode is ignored, with a warning.
  const human = cli([...args, "--policy", loose, "--mode", "strict"]);
  assert.equal(human.status, 3);
  assert.equal(human.stdout, "a protest riot then a grenade bomb\n");
  assert.match(human.stderr, /warning: --mode strict is ignored: the policy .*loose\.yaml sets mode loose/);
  assert.match(human.stderr, /stop: rule official \(default\), mode loose \(from policy .*loose\.yaml\)/);
  assert.match(human.stderr, /^BLOCK: response verdict Unsafe/m);
});

test("a policy that sets no mode takes --mode (stop and decision alike); without either, strict by default", () => {
  const noMode = path.join(work, "no-mode.yaml");
  fs.writeFileSync(noMode, "response:\n  default: { Controversial: flag }\n");
  const file = conversation("contro2.json", "a protest riot and nothing else");
  const args = ["stream", "-m", model, ...F32, "--messages", file, "--stop-on-trigger", "--json"];
  const loose = events(cli([...args, "--policy", noMode, "--mode", "loose"]).stdout);
  const end = loose[loose.length - 1] as {
    decision: { action: string; mode: string };
    settings: { mode: string; modeFrom: string };
  };
  assert.equal(
    loose.find((e) => e.type === "trigger"),
    undefined,
    "loose: a Controversial pair does not stop",
  );
  assert.deepEqual([end.settings.mode, end.settings.modeFrom], ["loose", "--mode"]);
  assert.equal(end.decision.mode, "loose");
  const strict = events(cli([...args, "--policy", noMode]).stdout);
  const strictEnd = strict[strict.length - 1] as typeof end;
  assert.equal(strict.find((e) => e.type === "trigger")?.tier, "Controversial");
  assert.deepEqual([strictEnd.settings.mode, strictEnd.settings.modeFrom], ["strict", "default"]);
  assert.deepEqual([strictEnd.decision.mode, strictEnd.decision.action], ["strict", "flag"]);
});

test("the stop token is coloured by its tier: inverted red for Unsafe, inverted yellow for Controversial", () => {
  const file = conversation("colour.json", "a protest riot");
  const r = cli(["stream", "-m", model, ...F32, "--messages", file], undefined, { FORCE_COLOR: "1" });
  assert.equal(r.status, 0, r.stderr);
  const yellow = "\x1b[33m";
  const inverse = "\x1b[7m";
  assert.ok(r.stdout.includes(`${yellow} protest`), JSON.stringify(r.stdout));
  assert.ok(r.stdout.includes(`${inverse}${yellow} riot`), JSON.stringify(r.stdout));
  const unsafe = cli(
    ["stream", "-m", model, ...F32, "--messages", conversation("c2.json", "a grenade bomb")],
    undefined,
    {
      FORCE_COLOR: "1",
    },
  );
  assert.ok(unsafe.stdout.includes(`${inverse}\x1b[31m bomb`), JSON.stringify(unsafe.stdout));
  const plain = cli(["stream", "-m", model, ...F32, "--messages", file], undefined, { NO_COLOR: "1" });
  assert.equal(plain.stdout, "a protest riot\n");
});

test("stream errors speak of the command's flags and name the file; no model suggests a Stream model", () => {
  const file = conversation("with-answer.json", "an answer");
  const r = cli(["stream", "-m", model, "--messages", file, "--text", "-"], "more");
  assert.equal(r.status, 1);
  assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
  assert.match(
    r.stderr,
    /^qwen3guard: error: .*with-answer\.json: the conversation ends with an assistant message, but --text gives the answer/,
  );
  assert.doesNotMatch(r.stderr, /openStream/);
  const none = cli(["stream", "--messages", file], undefined, { QWEN3GUARD_MODEL: "" });
  assert.equal(none.status, 2);
  assert.match(none.stderr, /no model given: .*Qwen3Guard-Stream.*synth --kind stream/);
  assert.doesNotMatch(none.stderr, /--kind gen|Qwen3Guard-Gen/);
});
