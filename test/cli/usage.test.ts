/**
 * How the command line reports errors and usage, spawned as a user runs it: one line per error behind one prefix,
 * exit statuses as documented (README, `--help`), the same flag names on every command. No model is loaded here
 * except the tiny one `convert` converts.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { synthesizeModel } from "../../src/model/synth/index.js";
import { EXIT_STATUS_HELP } from "../../src/cli/report.js";

const root = path.resolve(import.meta.dirname, "../..");
let work: string;

function cli(args: string[], input?: string, env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, ["--import", "tsx", "src/cli/run.ts", ...args], {
    cwd: root,
    input,
    encoding: "utf8",
    env: { ...process.env, QWEN3GUARD_CACHE: path.join(work, "cache"), QWEN3GUARD_MODEL: "", ...env },
    timeout: 120_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

before(() => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), "qwen3guard-usage-"));
});
after(() => fs.rmSync(work, { recursive: true, force: true }));

test("a bad flag prints one error line and a hint to run --help (not the whole help), exit status 2", () => {
  const unknown = cli(["moderate", "--bogus", "hi"]);
  assert.equal(unknown.status, 2);
  assert.equal(
    unknown.stderr,
    "qwen3guard: error: unknown option '--bogus'\nRun 'qwen3guard moderate --help' for usage.\n",
  );
  const choice = cli(["stream", "--messages", "x.json", "--mode", "sloppy"]);
  assert.equal(choice.status, 2);
  assert.match(
    choice.stderr,
    /^qwen3guard: error: option '--mode <mode>' argument 'sloppy' is invalid\. Allowed choices are strict, loose\nRun 'qwen3guard stream --help' for usage\.\n$/,
  );
  const command = cli(["moderat", "hi"]);
  assert.equal(command.status, 2);
  assert.match(command.stderr, /^qwen3guard: error: unknown command 'moderat' \(did you mean moderate\?\)\n/);
  const conflict = cli(["moderate", "hi", "--batch"]);
  assert.equal(conflict.status, 2);
  assert.match(
    conflict.stderr,
    /^qwen3guard: error: give exactly one input: .*\nRun 'qwen3guard moderate --help' for usage\.\n$/,
  );
});

test("--help documents the exit statuses; --help and --version exit 0", () => {
  const help = cli(["--help"]);
  assert.equal(help.status, 0);
  assert.ok(help.stdout.includes(EXIT_STATUS_HELP), help.stdout);
  for (const status of ["0", "1", "2", "3", "4"])
    assert.match(help.stdout, new RegExp(`^  ${status}  \\S`, "m"));
  const readme = fs.readFileSync(path.join(root, "README.md"), "utf8");
  for (const status of ["0", "1", "2", "3", "4"])
    assert.match(readme, new RegExp(`^\\| ${status} \\| `, "m"));
  assert.equal(cli(["--version"]).status, 0);
});

test("errors share the prefix and exit 1: a missing file, a broken policy, an invalid conversation", () => {
  const missing = cli(["render", "--messages", path.join(work, "nope.json")]);
  assert.equal(missing.status, 1);
  assert.equal(
    missing.stderr,
    `qwen3guard: error: ${path.join(work, "nope.json")}: cannot read the messages file (no such file)\n`,
  );
  const policy = path.join(work, "bad.yaml");
  fs.writeFileSync(policy, "mode: strictest\n");
  const p = cli(["policy", "check", policy]);
  assert.equal(p.status, 1);
  assert.match(p.stderr, /^qwen3guard: error: .*bad\.yaml: mode: expected strict or loose\n$/);
  const sys = path.join(work, "sys.json");
  fs.writeFileSync(
    sys,
    JSON.stringify([
      { role: "system", content: "be nice" },
      { role: "user", content: "hi" },
    ]),
  );
  const reject = cli(["render", "--messages", sys, "--system", "reject"]);
  assert.equal(reject.status, 1);
  assert.equal(
    reject.stderr,
    `qwen3guard: error: ${sys}: message 0 is a system message, which --system reject refuses: remove it or pass --system merge\n`,
  );
});

test("--messages files take a bare array, {messages} and {prompt, response}; a bad field is named", () => {
  const forms = {
    array: [
      { role: "user", content: "U" },
      { role: "assistant", content: "A" },
    ],
    object: {
      id: 1,
      messages: [
        { role: "user", content: "U" },
        { role: "assistant", content: "A" },
      ],
    },
    prompt: { prompt: "U", response: "A" },
  };
  const outputs = Object.entries(forms).map(([name, json]) => {
    const file = path.join(work, `${name}.json`);
    fs.writeFileSync(file, JSON.stringify(json));
    const r = cli(["render", "--messages", file]);
    assert.equal(r.status, 0, r.stderr);
    return r.stdout;
  });
  assert.equal(new Set(outputs).size, 1, "the three forms render the same prompt");
  const bad = path.join(work, "bad-role.json");
  fs.writeFileSync(
    bad,
    JSON.stringify({
      messages: [
        { role: "user", content: "U" },
        { role: "robot", content: "A" },
      ],
    }),
  );
  const r = cli(["tokenize", "--messages", bad]);
  assert.equal(r.status, 1);
  assert.equal(
    r.stderr,
    `qwen3guard: error: ${bad}: field "messages[1].role": expected "system", "user" or "assistant", got "robot"\n`,
  );
});

test("convert: -m and --quantization like every command; --type still works, deprecated", () => {
  const model = path.join(work, "tiny");
  synthesizeModel({ kind: "gen", shape: "tiny", outDir: model, dtype: "f32", seed: 1 });
  const out = path.join(work, "tiny-f16.gguf");
  const r = cli(["convert", "-m", model, "--quantization", "F16", "--out", out]);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, `${out}\n`);
  const old = cli(["convert", "--model", model, "--type", "f32", "--out", path.join(work, "tiny-f32.gguf")]);
  assert.equal(old.status, 0, old.stderr);
  assert.match(old.stderr, /^qwen3guard: warning: --type is deprecated: use --quantization$/m);
  assert.doesNotMatch(cli(["convert", "--help"]).stdout, /--type/);
  const both = cli(["convert", "-m", model, "--type", "f32", "--quantization", "f16"]);
  assert.equal(both.status, 2);
  const tokenize = cli(["tokenize", "-m", model, "--messages", "examples/conversations/chat.json", "--json"]);
  assert.equal(tokenize.status, 0, tokenize.stderr);
  assert.ok(JSON.parse(tokenize.stdout).count > 10);
});

test("hints name the model kind asked for: pulling or using a Stream name never suggests a Gen folder", () => {
  const pull = cli(["pull", "Qwen/Qwen3Guard-Stream-0.6B", "--no-progress"], undefined, {
    HF_HUB_OFFLINE: "1",
  });
  assert.equal(pull.status, 1);
  assert.match(pull.stderr, /^qwen3guard: error: .*--model \/path\/to\/Qwen3Guard-Stream-0\.6B/);
  assert.doesNotMatch(pull.stderr, /Gen/);
  const file = path.join(work, "chat.json");
  fs.writeFileSync(
    file,
    JSON.stringify([
      { role: "user", content: "hi" },
      { role: "assistant", content: "hello" },
    ]),
  );
  const stream = cli(["stream", "-m", "Qwen/Qwen3Guard-Stream-0.6B", "--messages", file]);
  assert.equal(stream.status, 1);
  assert.match(
    stream.stderr,
    /Run `qwen3guard pull Qwen\/Qwen3Guard-Stream-0\.6B` first, or download .*\/path\/to\/Qwen3Guard-Stream-0\.6B/,
  );
  assert.doesNotMatch(stream.stderr, /Gen/);
  assert.equal(stream.stderr.split("\n").filter(Boolean).length, 1);
});
