import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Command } from "commander";
import { parse } from "yaml";
import { loadPolicyOption, registerPolicyCommand } from "../../src/cli/commands/policy.js";
import type { PolicyIo } from "../../src/cli/commands/policy.js";
import { PolicyError } from "../../src/core/policy/index.js";

async function cli(...args: string[]): Promise<{ out: string; err: string; code: number }> {
  const captured = { out: "", err: "", code: 0 };
  const io: PolicyIo = {
    out: (t) => void (captured.out += t),
    err: (t) => void (captured.err += t),
    exit: (c) => void (captured.code = c),
  };
  const program = new Command().exitOverride();
  registerPolicyCommand(program, io);
  await program.parseAsync(args, { from: "user" });
  return captured;
}

const EX = "examples/policies";

test("policy check prints the effective policy after extends (YAML and JSON)", async () => {
  const yaml = await cli("policy", "check", `${EX}/support-bot.yaml`);
  assert.equal(yaml.code, 0);
  const shown = parse(yaml.out);
  assert.equal(shown.mode, "strict", "inherited from the base");
  assert.deepEqual(shown.sources, [`${EX}/company-base.yaml`, `${EX}/support-bot.yaml`]);
  assert.deepEqual(shown.response.categories.PII, { Unsafe: "flag", Controversial: "flag" });
  assert.deepEqual(
    shown.response.thresholds.map((t: { from: string }) => t.from),
    [`${EX}/company-base.yaml`, `${EX}/support-bot.yaml`],
  );
  const json = await cli("policy", "check", `${EX}/support-bot.yaml`, "--json");
  assert.deepEqual(JSON.parse(json.out), shown);
  const table = await cli("policy", "check", `${EX}/chat-assistant.yaml`, "--table");
  assert.match(table.out, /^ {2}Violent\s+allow\s+block\s+block$/m);
  assert.match(table.out, /^ {2}PII\s+allow\s+allow\s+allow$/m);
});

test("policy check reports every problem with file and path, exit status 1", async () => {
  const dir = mkdtempSync(join(tmpdir(), "q3g-cli-policy-"));
  const file = join(dir, "bad.yaml");
  writeFileSync(file, "mode: strictest\nresponse:\n  categories:\n    Jailbreak: block\n");
  const r = await cli("policy", "check", file);
  assert.equal(r.code, 1);
  assert.equal(r.out, "");
  const lines = r.err.trim().split("\n");
  assert.equal(lines.length, 2);
  assert.match(lines[0]!, /^qwen3guard: error: .*bad\.yaml: mode: expected strict or loose$/);
  assert.match(
    lines[1]!,
    /^qwen3guard: error: .*bad\.yaml: response\.categories\.Jailbreak: "Jailbreak" is a prompt-only category/,
  );
});

test("policy explain shows the decision with its reasons, human-readable and JSON", async () => {
  const verdict = JSON.stringify({ direction: "response", tier: "Controversial", categories: ["Violent"] });
  const r = await cli("policy", "explain", `${EX}/chat-assistant.yaml`, "--verdict", verdict);
  assert.equal(r.code, 0, r.err);
  assert.equal(
    r.out,
    [
      "BLOCK: response verdict Controversial (Safe in loose mode), category Violent",
      "  * category rule Violent: Controversial → block (response.categories.Violent.Controversial)",
      "  (* = decided the action)",
      "",
    ].join("\n"),
  );
  const dir = mkdtempSync(join(tmpdir(), "q3g-cli-verdict-"));
  writeFileSync(join(dir, "v.json"), JSON.stringify({ tier: "Unsafe", category: "PII" }));
  const j = await cli(
    "policy",
    "explain",
    `${EX}/chat-assistant.yaml`,
    "--verdict",
    `@${join(dir, "v.json")}`,
    "--direction",
    "response",
    "--json",
  );
  const d = JSON.parse(j.out);
  assert.equal(d.action, "allow");
  assert.equal(d.category, "PII");
  assert.equal(d.reasons[0].rule, "response.categories.PII.Unsafe");
});

test("policy explain rejects a bad verdict clearly", async () => {
  const r = await cli("policy", "explain", `${EX}/chat-assistant.yaml`, "--verdict", '{"tier":"Unsafe"}');
  assert.equal(r.code, 1);
  assert.match(r.err, /--verdict: direction: expected prompt or response/);
  const bad = await cli("policy", "explain", `${EX}/chat-assistant.yaml`, "--verdict", "{tier:");
  assert.match(bad.err, /--verdict: not valid JSON/);
});

test("loadPolicyOption: undefined without a path, the resolved policy or a PolicyError with one", async () => {
  assert.equal(await loadPolicyOption(undefined), undefined);
  assert.equal((await loadPolicyOption(`${EX}/chat-assistant.yaml`))?.mode, "loose");
  await assert.rejects(loadPolicyOption(`${EX}/missing.yaml`), PolicyError);
});

test("the registered command runs end to end and exits 1 on a broken file", () => {
  // One spawn only (starting the whole CLI costs seconds); output details are checked in-process above.
  const bad = spawnSync(
    process.execPath,
    ["--import", "tsx", "src/cli/run.ts", "policy", "check", `${EX}/nope.yaml`],
    {
      encoding: "utf8",
    },
  );
  assert.equal(bad.status, 1);
  assert.equal(bad.stdout, "");
  assert.match(bad.stderr, /nope\.yaml: cannot read the policy file: no such file/);
});
