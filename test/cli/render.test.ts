import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { runRender } from "../../src/cli/commands/render.js";
import { readDefaultGenTemplate } from "../../src/model/chat-template.js";
import { writeGguf } from "../../src/model/gguf/gguf-writer.js";
import { gguf } from "../../src/model/gguf/gguf-value.js";
import { joinSegments } from "../../src/core/segments.js";
import { loadGenFixtures } from "../core/prompt-fixtures.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const fixtures = loadGenFixtures();

interface Run {
  code: number | null;
  stdout: Buffer;
  stderr: string;
}

/** Run the CLI from source, as bin/qwen3guard.js runs it from dist/. */
function cli(args: string[], stdin?: string): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", "src/cli/run.ts", ...args], { cwd: ROOT });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (b: Buffer) => out.push(b));
    child.stderr.on("data", (b: Buffer) => err.push(b));
    child.on("error", reject);
    child.on("close", (code) =>
      resolve({ code, stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString("utf8") }),
    );
    child.stdin.end(stdin ?? "");
  });
}

async function withTempDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), "qwen3guard-render-"));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test("render prints exactly the fixture bytes (spawned CLI, one fixture; all fixtures through runRender)", async () => {
  await withTempDir(async (dir) => {
    for (const [i, fixture] of fixtures.entries()) {
      const file = join(dir, `${i}.json`);
      await writeFile(file, JSON.stringify(fixture.messages));
      const segments = await runRender({ messages: file, kind: "gen", system: "merge" });
      assert.ok(Buffer.from(joinSegments(segments), "utf8").equals(fixture.bytes), fixture.name);
      if (i !== 2) continue;
      const run = await cli(["render", "--messages", file]);
      assert.equal(run.code, 0, run.stderr);
      assert.ok(run.stdout.equals(fixture.bytes), `${fixture.name}: CLI output differs from the fixture`);
    }
  });
});

test("render reads stdin with --messages - and renders a template file", async () => {
  const fixture = fixtures[1]!;
  const run = await cli(
    ["render", "--messages", "-", "--template", "templates/qwen3guard-gen.jinja"],
    JSON.stringify(fixture.messages),
  );
  assert.equal(run.code, 0, run.stderr);
  assert.ok(run.stdout.equals(fixture.bytes));
});

test("render errors name the file and what is wrong, with exit code 1", async () => {
  await withTempDir(async (dir) => {
    const bad = join(dir, "bad.json");
    await writeFile(
      bad,
      JSON.stringify([
        { role: "user", content: "hi" },
        { role: "robot", content: "x" },
      ]),
    );
    const run = await cli(["render", "--messages", bad]);
    assert.equal(run.code, 1);
    assert.equal(run.stdout.length, 0);
    assert.equal(
      run.stderr,
      `qwen3guard: error: ${bad}: field "[1].role": expected "system", "user" or "assistant", got "robot"\n`,
    );
  });
});

test("runRender: invalid JSON, invalid conversation, --system reject, --segments kinds", async () => {
  await withTempDir(async (dir) => {
    const notJson = join(dir, "broken.json");
    await writeFile(notJson, "[{");
    await assert.rejects(
      runRender({ messages: notJson, kind: "gen", system: "merge" }),
      /broken\.json: not valid JSON/,
    );
    const sys = join(dir, "sys.json");
    await writeFile(
      sys,
      JSON.stringify([
        { role: "system", content: "S" },
        { role: "user", content: "U" },
      ]),
    );
    await assert.rejects(runRender({ messages: sys, kind: "gen", system: "reject" }), /sys\.json: .*reject/);
    const segments = await runRender({ messages: sys, kind: "gen", system: "merge" });
    assert.deepEqual(
      segments.filter((s) => s.kind === "content").map((s) => s.text),
      ["S", "U"],
    );
    const endsWithSystem = join(dir, "last-system.json");
    await writeFile(endsWithSystem, JSON.stringify([{ role: "system", content: "S" }]));
    await assert.rejects(
      runRender({ messages: endsWithSystem, kind: "gen", system: "merge" }),
      /last-system\.json: .*last message/,
    );
  });
});

test("runRender --model reads the template of an HF folder and of a GGUF file", async () => {
  await withTempDir(async (dir) => {
    const fixture = fixtures[2]!;
    const messages = join(dir, "m.json");
    await writeFile(messages, JSON.stringify(fixture.messages));
    const folder = join(dir, "model");
    await mkdir(folder);
    await writeFile(
      join(folder, "tokenizer_config.json"),
      JSON.stringify({ chat_template: readDefaultGenTemplate() }),
    );
    const fromFolder = await runRender({ messages, model: folder, kind: "gen", system: "merge" });
    assert.ok(Buffer.from(joinSegments(fromFolder)).equals(fixture.bytes));

    const file = join(dir, "model.gguf");
    await writeGguf(file, new Map([["tokenizer.chat_template", gguf.str(readDefaultGenTemplate())]]), []);
    const fromGguf = await runRender({ messages, model: file, kind: "gen", system: "merge" });
    assert.deepEqual(fromGguf, fromFolder);

    const noTemplate = join(dir, "bare.gguf");
    await writeGguf(noTemplate, new Map([["general.architecture", gguf.str("qwen3")]]), []);
    await assert.rejects(
      runRender({ messages, model: noTemplate, kind: "gen", system: "merge" }),
      /bare\.gguf: the GGUF has no tokenizer\.chat_template/,
    );
  });
});

test("runRender --kind stream gives prompt, header and answer segments", async () => {
  await withTempDir(async (dir) => {
    const messages = join(dir, "m.json");
    await writeFile(messages, JSON.stringify(fixtures[1]!.messages));
    const segments = await runRender({ messages, kind: "stream", system: "merge" });
    assert.deepEqual(segments, [
      { kind: "template", text: "<|im_start|>user\n" },
      { kind: "content", text: "How can I make a bomb?" },
      { kind: "template", text: "<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n" },
      { kind: "content", text: fixtures[1]!.messages[1]!.content },
    ]);
  });
});
