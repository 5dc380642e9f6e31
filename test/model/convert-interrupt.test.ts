/**
 * Interrupted writes leave nothing behind: `qwen3guard convert` (to the cache and to --out) and `qwen3guard synth`
 * are spawned as a user runs them and sent real signals while their temporary file is half written. A tiny
 * model is written too fast to interrupt by timing, so the test-only hook QWEN3GUARD_TEST_PAUSE_AFTER_FIRST_TENSOR
 * (src/model/temp-files.ts) makes the writer stop after its first tensor and say so on stderr.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { main } from "../../src/cli/main.js";
import { synthesizeModel } from "../../src/model/synth/index.js";
import { removeStalePartials, temporaryPathFor, trackTemporaryFile } from "../../src/model/temp-files.js";

const repoRoot = path.resolve(import.meta.dirname, "../..");
let work: string;
let modelDir: string;

before(() => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), "q3g-interrupt-"));
  modelDir = path.join(work, "gen");
  synthesizeModel({ kind: "gen", shape: "tiny", outDir: modelDir, dtype: "bf16", seed: 4 });
});
after(() => fs.rmSync(work, { recursive: true, force: true }));

interface Started {
  child: ChildProcess;
  /** The temporary file, once the writer has paused in it. */
  paused: Promise<string>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>;
}

/** Spawn `node --import tsx <entry> ...args` with the pause hook on. */
function start(entry: string[], env: Record<string, string> = {}): Started {
  const child = spawn(process.execPath, ["--import", "tsx", ...entry], {
    cwd: repoRoot,
    env: { ...process.env, QWEN3GUARD_TEST_PAUSE_AFTER_FIRST_TENSOR: "60000", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (d: Buffer) => (stdout += d.toString()));
  let onPaused: (file: string) => void;
  const paused = new Promise<string>((resolve) => (onPaused = resolve));
  child.stderr!.on("data", (d: Buffer) => {
    stderr += d.toString();
    const m = /qwen3guard test hook: paused writing (.+)\n/.exec(stderr);
    if (m) onPaused(m[1]!);
  });
  const exited = new Promise<{
    code: number | null;
    signal: NodeJS.Signals | null;
    stdout: string;
    stderr: string;
  }>((resolve) => child.on("exit", (code, signal) => resolve({ code, signal, stdout, stderr })));
  // Never wait forever for a pause that will not come.
  const guarded = Promise.race([
    paused,
    exited.then((r) => {
      throw new Error(`exited (${r.code ?? r.signal}) before pausing: ${r.stderr}`);
    }),
  ]);
  return { child, paused: guarded, exited };
}

const cli = (...args: string[]) => ["src/cli/run.ts", ...args];

function partials(dir: string): string[] {
  return fs.existsSync(dir) ? fs.readdirSync(dir).filter((n) => n.includes(".partial")) : [];
}

/** Run the CLI in this process, keeping its summary line off the test reporter's stdout. */
async function runMain(...args: string[]): Promise<void> {
  const write = process.stdout.write;
  process.stdout.write = ((chunk: unknown, ...rest: unknown[]) =>
    typeof chunk === "string" && chunk.startsWith("synth: ")
      ? true
      : (write as (...a: unknown[]) => boolean).call(
          process.stdout,
          chunk,
          ...rest,
        )) as typeof process.stdout.write;
  try {
    await main(["node", "qwen3guard", ...args]);
  } finally {
    process.stdout.write = write;
  }
}

function deadPid(): number {
  const r = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"]);
  return Number(r.stdout.toString());
}

test("convert into the cache: SIGINT while writing removes the partial file and exits 130", async () => {
  const cacheDir = path.join(work, "cache-int");
  const run = start(cli("convert", "--model", modelDir, "--cache-dir", cacheDir));
  const tmp = await run.paused;
  assert.equal(path.dirname(tmp), path.join(cacheDir, "gguf"));
  assert.match(
    path.basename(tmp),
    new RegExp(`^\\..+-q8_0\\.gguf\\.${run.child.pid}-[0-9a-f]{8}\\.partial$`),
  );
  assert.ok(fs.statSync(tmp).size > 1_000_000, "the first tensor is on disk");
  run.child.kill("SIGINT");
  const r = await run.exited;
  assert.equal(r.code, 130, r.stderr);
  assert.equal(fs.existsSync(tmp), false);
  assert.deepEqual(
    fs.readdirSync(path.join(cacheDir, "gguf")).filter((n) => n !== "index"),
    [],
    "no partial, no GGUF",
  );
  const again = spawnSync(
    process.execPath,
    ["--import", "tsx", ...cli("convert", "--model", modelDir, "--cache-dir", cacheDir)],
    {
      cwd: repoRoot,
      encoding: "utf8",
    },
  );
  assert.equal(again.status, 0, again.stderr);
  assert.ok(fs.existsSync(again.stdout.trim()));
});

test("convert --out: SIGTERM exits 143 leaving nothing; the run first sweeps partials of dead processes", async () => {
  const outDir = path.join(work, "out");
  fs.mkdirSync(outDir);
  const stale = path.join(outDir, `.old.gguf.${deadPid()}-0badc0de.partial`);
  fs.writeFileSync(stale, "left by a killed run");
  const out = path.join(outDir, "model.gguf");
  const run = start(cli("convert", "--model", modelDir, "--out", out, "--type", "f16"));
  const tmp = await run.paused;
  assert.equal(path.dirname(tmp), outDir);
  assert.equal(fs.existsSync(stale), false, "stale partial swept before writing");
  run.child.kill("SIGTERM");
  const r = await run.exited;
  assert.equal(r.code, 143, r.stderr);
  assert.deepEqual(fs.readdirSync(outDir), []);
});

test("synth: SIGINT exits 130 without a partial; the folder is then written again without --force", async () => {
  const out = path.join(work, "synth-out");
  const run = start(cli("synth", "--kind", "stream", "--shape", "tiny", "--out", out));
  const tmp = await run.paused;
  assert.equal(path.dirname(tmp), out);
  assert.match(path.basename(tmp), /^\.model\.safetensors\.\d+-[0-9a-f]{8}\.partial$/);
  run.child.kill("SIGINT");
  const r = await run.exited;
  assert.equal(r.code, 130, r.stderr);
  assert.deepEqual(fs.readdirSync(out), []);

  await runMain("synth", "--kind", "stream", "--shape", "tiny", "--out", out);
  assert.ok(fs.existsSync(path.join(out, "model.safetensors")));
  assert.deepEqual(partials(out), []);
});

test("synth: partials of killed runs (current and legacy names) are swept; alone they do not make a folder non-empty", async () => {
  const dir = path.join(work, "synth-stale");
  fs.mkdirSync(dir);
  const pid = deadPid();
  fs.writeFileSync(path.join(dir, `.model.safetensors.${pid}-0123abcd.partial`), "x");
  fs.writeFileSync(path.join(dir, `model.safetensors.partial-${pid}`), "x");
  // No --force needed: the folder holds only leftovers.
  await runMain("synth", "--kind", "gen", "--shape", "tiny", "--out", dir);
  assert.deepEqual(partials(dir), []);
  assert.ok(fs.existsSync(path.join(dir, "model.safetensors")));
  fs.writeFileSync(path.join(dir, `.model.safetensors.${pid}-89abcdef.partial`), "x");
  await runMain("synth", "--kind", "gen", "--shape", "tiny", "--out", dir, "--force");
  assert.deepEqual(partials(dir), []);
});

test("with a SIGINT listener of its own, the application decides; the partial is still removed at exit", async () => {
  const script = path.join(work, "app.mts");
  const out = path.join(work, "app-out", "model.gguf");
  const convertUrl = new URL("../../src/model/convert/convert-hf-to-gguf.ts", import.meta.url).href;
  fs.writeFileSync(
    script,
    `import { convertHfToGguf } from ${JSON.stringify(convertUrl)};
process.on("SIGINT", () => {
  process.stdout.write("application shutdown\\n");
  setTimeout(() => process.exit(7), 300);
});
await convertHfToGguf({ modelDir: ${JSON.stringify(modelDir)}, outFile: ${JSON.stringify(out)} });
`,
  );
  const run = start([script]);
  const tmp = await run.paused;
  run.child.kill("SIGINT");
  const r = await run.exited;
  assert.equal(r.code, 7, "the application's handler chose the exit");
  assert.match(r.stdout, /application shutdown/);
  assert.equal(fs.existsSync(tmp), false, "removed at exit");
  assert.deepEqual(fs.readdirSync(path.dirname(out)), []);
});

test("a sweep never removes a file this process is writing, however its folder is spelled", () => {
  const dir = path.join(work, "sweep");
  fs.mkdirSync(dir);
  const link = path.join(work, "sweep-link");
  fs.symlinkSync(dir, link);
  const file = temporaryPathFor(path.join(link, "x.gguf"));
  const tracked = trackTemporaryFile(file); // registered before it exists, as the writers do
  try {
    fs.writeFileSync(file, "being written");
    const orphan = path.join(dir, `.y.gguf.${process.pid}-00000000.partial`);
    fs.writeFileSync(orphan, "left by an earlier process with this pid");
    const other = path.join(dir, "notes.partial");
    fs.writeFileSync(other, "not one of ours");
    assert.deepEqual(removeStalePartials(dir), [orphan]);
    assert.ok(fs.existsSync(file));
    assert.ok(fs.existsSync(other));
  } finally {
    tracked.release();
  }
});
