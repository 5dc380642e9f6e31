/**
 * `qwen3guard pull NAME` against a FAKE Hugging Face hub (test/helpers/fake-hub.ts: a loopback HTTP server that
 * imitates the hub API, because the real hub cannot be reached from the test machines).
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { PassThrough } from "node:stream";
import { Command } from "commander";
import { registerPullCommand, runPull } from "../../src/cli/commands/pull.js";
import { FakeHub, fakeCommitSha, pseudoRandomBytes } from "../helpers/fake-hub.js";

const enc = (s: string) => new TextEncoder().encode(s);
const REPO = "Qwen/Qwen3Guard-Gen-0.6B";
const COMMIT = fakeCommitSha("cli");

let hub: FakeHub;
before(async () => {
  hub = await FakeHub.start({
    repos: {
      [REPO]: {
        refs: { main: COMMIT },
        files: [
          { path: "config.json", content: enc(JSON.stringify({ architectures: ["Qwen3ForCausalLM"] })) },
          { path: "model.safetensors", content: pseudoRandomBytes(64 * 1024, 11), lfs: true },
        ],
      },
    },
  });
});
after(async () => hub.close());

function capture(): { stream: PassThrough; text: () => string } {
  const stream = new PassThrough();
  const chunks: Buffer[] = [];
  stream.on("data", (c: Buffer) => chunks.push(c));
  return { stream, text: () => Buffer.concat(chunks).toString("utf8") };
}

test("runPull prints the snapshot folder on stdout and a summary on stderr; the second run reports the cache", async () => {
  const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), "qg-pull-cli-"));
  const out = capture();
  const err = capture();
  await runPull(
    REPO,
    { cacheDir, endpoint: hub.url, token: "hf_cli" },
    { stdout: out.stream, stderr: err.stream },
  );
  const dir = path.join(cacheDir, "hub", "Qwen--Qwen3Guard-Gen-0.6B", COMMIT);
  assert.equal(out.text(), `${dir}\n`);
  assert.match(err.text(), /downloaded 64\.\d KiB of Qwen\/Qwen3Guard-Gen-0\.6B@/);
  assert.ok(fs.existsSync(path.join(dir, "model.safetensors")));
  assert.ok(
    hub.requests.every((r) => r.headers.authorization === "Bearer hf_cli"),
    "--token is sent",
  );

  const out2 = capture();
  const err2 = capture();
  await runPull(REPO, { cacheDir, endpoint: hub.url }, { stdout: out2.stream, stderr: err2.stream });
  assert.equal(out2.text(), `${dir}\n`);
  assert.match(err2.text(), /already in the cache/);
});

test("the pull command parses NAME and its options", async () => {
  const program = new Command().exitOverride();
  registerPullCommand(program);
  const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), "qg-pull-cli-"));
  const written: string[] = [];
  const original = process.stdout.write.bind(process.stdout);
  // The test runner talks to its parent over stdout in binary frames: let those through, keep our text.
  process.stdout.write = ((chunk: string | Uint8Array, ...rest: never[]) => {
    if (typeof chunk !== "string") return original(chunk, ...rest);
    written.push(chunk);
    return true;
  }) as typeof process.stdout.write;
  try {
    await program.parseAsync(
      ["pull", REPO, "--revision", "main", "--cache-dir", cacheDir, "--endpoint", hub.url, "--no-progress"],
      { from: "user" },
    );
  } finally {
    process.stdout.write = original;
  }
  assert.deepEqual(written, [`${path.join(cacheDir, "hub", "Qwen--Qwen3Guard-Gen-0.6B", COMMIT)}\n`]);
});
