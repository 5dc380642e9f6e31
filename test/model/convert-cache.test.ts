import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import {
  ensureGguf,
  ensureGgufDetailed,
  type EnsureGgufProgress,
} from "../../src/model/convert/gguf-cache.js";
import { ConvertError } from "../../src/model/convert/convert-error.js";
import { resolveCacheDir } from "../../src/model/cache-dir.js";
import { GgufFile } from "../../src/model/gguf/gguf-reader.js";
import { parseHfConfig } from "../../src/model/hf-config.js";
import { runConvert } from "../../src/cli/commands/convert.js";
import {
  checkpointTensors,
  synthConfigJson,
  synthTensorValues,
  writeCheckpointFolder,
} from "../../src/model/synth/index.js";

let root: string;
let modelDir: string;

/** A tiny Gen checkpoint with a 256-row toy vocabulary (fast to convert). */
function writeToyModel(dir: string, seed: number): void {
  const configJson: Record<string, unknown> = {
    ...synthConfigJson({ kind: "gen", shape: "tiny", dtype: "bf16" }),
  };
  configJson.vocab_size = 256;
  const specs = checkpointTensors(parseHfConfig(configJson));
  writeCheckpointFolder({
    outDir: dir,
    configJson,
    sources: specs.map((spec) => ({ spec, values: () => synthTensorValues(spec, seed) })),
    dtype: "bf16",
    withTokenizer: false,
  });
  const vocab = Object.fromEntries(Array.from({ length: 250 }, (_, i) => [`t${i}`, i]));
  const tokenizer = {
    added_tokens: [{ id: 250, content: "<|im_end|>", special: true }],
    model: { type: "BPE", vocab, merges: ["t 1"] },
  };
  fs.writeFileSync(path.join(dir, "tokenizer.json"), JSON.stringify(tokenizer));
  fs.writeFileSync(path.join(dir, "tokenizer_config.json"), JSON.stringify({ eos_token: "<|im_end|>" }));
}

function recorder(): { events: EnsureGgufProgress[]; onProgress: (p: EnsureGgufProgress) => void } {
  const events: EnsureGgufProgress[] = [];
  return { events, onProgress: (p) => events.push(p) };
}

function leftovers(cacheDir: string): string[] {
  const dir = path.join(cacheDir, "gguf");
  return fs.existsSync(dir)
    ? fs.readdirSync(dir).filter((n) => n.endsWith(".partial") || n.endsWith(".tmp"))
    : [];
}

before(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), "q3g-cache-"));
  modelDir = path.join(root, "model");
  writeToyModel(modelDir, 1);
});
after(() => fs.rmSync(root, { recursive: true, force: true }));

test("first call converts, second returns the cached file without hashing or converting", async () => {
  const cacheDir = path.join(root, "cache-a");
  const first = recorder();
  const a = await ensureGgufDetailed(modelDir, { cacheDir, onProgress: first.onProgress });
  assert.equal(a.source, "converted");
  assert.match(path.basename(a.path), /^[0-9a-f]{32}-q8_0\.gguf$/);
  assert.equal(path.dirname(a.path), path.join(cacheDir, "gguf"));
  assert.ok(first.events.some((e) => e.phase === "hash"));
  assert.ok(first.events.some((e) => e.phase === "convert"));
  const last = first.events.at(-1)!;
  assert.ok(
    last.phase === "convert" &&
      last.bytesWritten === last.bytesTotal &&
      last.tensorIndex === last.tensorCount,
  );
  const g = GgufFile.open(a.path);
  assert.equal(g.getString("general.architecture"), "qwen3");
  g.close();

  const second = recorder();
  const t0 = performance.now();
  const b = await ensureGgufDetailed(modelDir, { cacheDir, onProgress: second.onProgress });
  const ms = performance.now() - t0;
  assert.equal(b.path, a.path);
  assert.equal(b.source, "fingerprint");
  assert.deepEqual(second.events, [], "no hashing, no conversion");
  assert.ok(ms < 500, `cache hit took ${ms.toFixed(0)} ms`);

  // verify: hash the content, but still no conversion.
  const third = recorder();
  const c = await ensureGgufDetailed(modelDir, { cacheDir, verify: true, onProgress: third.onProgress });
  assert.equal(c.path, a.path);
  assert.equal(c.source, "content");
  assert.ok(third.events.every((e) => e.phase === "hash"));
  assert.equal(await ensureGguf(modelDir, { cacheDir }), a.path, "ensureGguf returns the path");
  assert.deepEqual(leftovers(cacheDir), []);
});

test("the cache key follows content and type, not dates", async () => {
  const cacheDir = path.join(root, "cache-b");
  const dir = path.join(root, "model-b");
  writeToyModel(dir, 2);
  const q8 = await ensureGgufDetailed(dir, { cacheDir });
  const f16 = await ensureGgufDetailed(dir, { cacheDir, type: "f16" });
  assert.notEqual(f16.hash, q8.hash);
  assert.match(f16.path, /-f16\.gguf$/);

  // Same bytes, new modification time: the pre-check misses, the content hash finds the file.
  const weights = path.join(dir, "model.safetensors");
  const later = new Date(Date.now() + 5000);
  fs.utimesSync(weights, later, later);
  const touched = recorder();
  const again = await ensureGgufDetailed(dir, { cacheDir, onProgress: touched.onProgress });
  assert.equal(again.source, "content");
  assert.equal(again.path, q8.path);
  assert.ok(!touched.events.some((e) => e.phase === "convert"));

  // Different weights: a new file.
  writeToyModel(dir, 3);
  const changed = await ensureGgufDetailed(dir, { cacheDir });
  assert.equal(changed.source, "converted");
  assert.notEqual(changed.path, q8.path);
  // A different tokenizer alone also changes the key.
  const tok = path.join(dir, "tokenizer_config.json");
  fs.writeFileSync(tok, JSON.stringify({ eos_token: "<|im_end|>", add_bos_token: false }));
  const retok = await ensureGgufDetailed(dir, { cacheDir });
  assert.notEqual(retok.path, changed.path);
});

test("an interrupted conversion leaves no file and no temporary file; the next call succeeds", async () => {
  const cacheDir = path.join(root, "cache-c");
  let calls = 0;
  await assert.rejects(
    ensureGgufDetailed(modelDir, {
      cacheDir,
      onProgress: (p) => {
        if (p.phase === "convert" && ++calls === 3) throw new Error("interrupted");
      },
    }),
    /interrupted/,
  );
  const ggufDir = path.join(cacheDir, "gguf");
  assert.deepEqual(
    fs.readdirSync(ggufDir).filter((n) => n !== "index"),
    [],
    "nothing but the index folder",
  );
  assert.deepEqual(fs.readdirSync(path.join(ggufDir, "index")), []);
  const ok = await ensureGgufDetailed(modelDir, { cacheDir });
  assert.equal(ok.source, "converted");
  assert.ok(fs.existsSync(ok.path));
});

test("concurrent conversions of one model both succeed; stale temp files of dead processes are removed", async () => {
  const cacheDir = path.join(root, "cache-d");
  const ggufDir = path.join(cacheDir, "gguf");
  fs.mkdirSync(ggufDir, { recursive: true });
  const child = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"]);
  const deadPid = Number(child.stdout.toString());
  // A live writer: another process that is still running.
  const sleeper = spawn(process.execPath, ["-e", "setTimeout(() => {}, 60000)"], { stdio: "ignore" });
  try {
    const stale = path.join(ggufDir, `.abc-q8_0.gguf.${deadPid}-0badc0de.partial`);
    const live = path.join(ggufDir, `.abc-q8_0.gguf.${sleeper.pid}-00c0ffee.partial`);
    // Our own pid, but not a file this process is writing: left by an earlier process that had the same pid.
    const reused = path.join(ggufDir, `.abc-q8_0.gguf.${process.pid}-0dead0ff.partial`);
    fs.writeFileSync(stale, "half");
    fs.writeFileSync(live, "in progress");
    fs.writeFileSync(reused, "half");

    const [a, b] = await Promise.all([
      ensureGguf(modelDir, { cacheDir }),
      ensureGguf(modelDir, { cacheDir }),
    ]);
    assert.equal(a, b);
    const g = GgufFile.open(a);
    assert.equal(g.tensor("token_embd.weight")?.ne[1], 256);
    g.close();
    assert.equal(fs.existsSync(stale), false, "dead writer's temp file removed");
    assert.equal(fs.existsSync(reused), false, "a temp file of our pid that we are not writing is removed");
    assert.equal(fs.existsSync(live), true, "a live writer's temp file is left alone");
    fs.rmSync(live);
    assert.deepEqual(leftovers(cacheDir), []);
  } finally {
    sleeper.kill();
  }
});

test("cache folder: explicit, then $QWEN3GUARD_CACHE, then ~/.cache/qwen3guard", () => {
  assert.equal(resolveCacheDir("/x/y", { QWEN3GUARD_CACHE: "/env" }), "/x/y");
  assert.equal(resolveCacheDir(undefined, { QWEN3GUARD_CACHE: "/env" }), "/env");
  assert.equal(resolveCacheDir(undefined, {}), path.join(os.homedir(), ".cache", "qwen3guard"));
});

test("bad model folders give ConvertError", async () => {
  const cacheDir = path.join(root, "cache-e");
  await assert.rejects(ensureGguf(path.join(root, "nope"), { cacheDir }), ConvertError);
  const empty = path.join(root, "empty");
  fs.mkdirSync(empty);
  await assert.rejects(ensureGguf(empty, { cacheDir }), /config\.json is missing/);
  await assert.rejects(ensureGguf(modelDir, { cacheDir, type: "q4" as never }), /unknown output type "q4"/);
});

test("CLI: qwen3guard convert prints the GGUF path (cache or --out)", async () => {
  const cacheDir = path.join(root, "cache-f");
  const mainUrl = pathToFileURL(path.resolve("src/cli/main.ts")).href;
  const script = `import(${JSON.stringify(mainUrl)}).then((m) => m.main(["node", "qwen3guard", ...process.argv.slice(1)]))`;
  const run = spawnSync(
    process.execPath,
    ["--import", "tsx", "-e", script, "convert", "--model", modelDir, "--cache-dir", cacheDir],
    { encoding: "utf8" },
  );
  assert.equal(run.status, 0, run.stderr);
  assert.equal(run.stdout, `${await ensureGguf(modelDir, { cacheDir })}\n`);

  const out = path.join(root, "cli-out.gguf");
  assert.equal(await runConvert({ model: modelDir, type: "f32", out }), out);
  const g = GgufFile.open(out);
  assert.equal(g.getNumber("general.file_type"), 0);
  g.close();
});
