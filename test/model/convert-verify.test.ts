/**
 * Damaged GGUFs are found: a cached file is checked before use (size against what the header implies) and rebuilt
 * when damaged; `convert --verify` re-hashes the file against the SHA-256 it records, so corrupted tensor data is
 * found too; a GGUF given as a file is checked the same way.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { isQwen3GuardError } from "../../src/core/errors.js";
import { ensureGgufDetailed } from "../../src/model/convert/gguf-cache.js";
import { prepareGenAssets } from "../../src/model/gen-assets.js";
import {
  GGUF_DIGEST_KEY,
  GgufIntegrityError,
  quickCheckGguf,
  verifyGguf,
} from "../../src/model/gguf/gguf-integrity.js";
import { GgufFile, scanGgufLayout } from "../../src/model/gguf/gguf-reader.js";
import { writeGguf } from "../../src/model/gguf/gguf-writer.js";
import { gguf } from "../../src/model/gguf/gguf-value.js";
import { synthesizeModel } from "../../src/model/synth/index.js";

const repoRoot = path.resolve(import.meta.dirname, "../..");
let work: string;
let modelDir: string;

before(() => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), "q3g-verify-"));
  modelDir = path.join(work, "gen");
  synthesizeModel({ kind: "gen", shape: "tiny", outDir: modelDir, dtype: "bf16", seed: 6 });
});
after(() => fs.rmSync(work, { recursive: true, force: true }));

function cli(...args: string[]) {
  const r = spawnSync(process.execPath, ["--import", "tsx", "src/cli/run.ts", ...args], {
    cwd: repoRoot,
    encoding: "utf8",
    timeout: 120_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Flip one byte of tensor data (the middle of the token embeddings), keeping the size. */
function corrupt(file: string): void {
  const g = GgufFile.open(file);
  const t = g.tensor("token_embd.weight")!;
  g.close();
  const fd = fs.openSync(file, "r+");
  try {
    const at = t.offset + Math.floor(t.byteLength / 2);
    const b = Buffer.alloc(1);
    fs.readSync(fd, b, 0, 1, at);
    b[0] = b[0]! ^ 0x5a;
    fs.writeSync(fd, b, 0, 1, at);
  } finally {
    fs.closeSync(fd);
  }
}

function copy(file: string, name: string): string {
  const dst = path.join(work, name);
  fs.copyFileSync(file, dst);
  return dst;
}

test("the recorded digest is the SHA-256 of the file with the digest's own 64 bytes read as zeros", async () => {
  const cacheDir = path.join(work, "cache-digest");
  const { path: file } = await ensureGgufDetailed(modelDir, { cacheDir });
  const bytes = fs.readFileSync(file);
  const key = Buffer.from(GGUF_DIGEST_KEY, "utf8");
  const at = bytes.indexOf(key) + key.length + 4 + 8; // key, value type, string length
  const recorded = bytes.subarray(at, at + 64).toString("latin1");
  assert.match(recorded, /^[0-9a-f]{64}$/);
  bytes.fill("0".charCodeAt(0), at, at + 64);
  assert.equal(createHash("sha256").update(bytes).digest("hex"), recorded);
  assert.deepEqual(await verifyGguf(file), { digest: "checked" });
  assert.equal(quickCheckGguf(file), undefined);

  // The quick walk of the header agrees with the full parse.
  const scan = scanGgufLayout(file, [GGUF_DIGEST_KEY, "general.architecture", "tokenizer.ggml.tokens"]);
  const g = GgufFile.open(file);
  try {
    assert.equal(scan.dataStart, g.dataStart);
    assert.equal(scan.tensorCount, g.tensors.length);
    assert.equal(scan.fileSize, bytes.length);
    assert.equal(scan.impliedSize, bytes.length);
    assert.equal(scan.strings.get("general.architecture")?.value, "qwen3");
    assert.equal(scan.strings.get(GGUF_DIGEST_KEY)?.value, recorded);
    assert.equal(scan.strings.get(GGUF_DIGEST_KEY)?.offset, at - 12);
    assert.equal(scan.strings.has("tokenizer.ggml.tokens"), false, "an array is not a string");
  } finally {
    g.close();
  }
});

test("a truncated cached GGUF is rebuilt on the next load, with a message", async () => {
  const cacheDir = path.join(work, "cache-trunc");
  const first = await prepareGenAssets(modelDir, { cacheDir });
  assert.equal(first.gguf, "converted");
  const size = fs.statSync(first.ggufPath).size;
  fs.truncateSync(first.ggufPath, size - 4096);
  const warnings: string[] = [];
  const second = await prepareGenAssets(modelDir, { cacheDir, warn: (m) => warnings.push(m) });
  assert.equal(second.gguf, "converted", "converted again, not loaded");
  assert.equal(second.ggufPath, first.ggufPath);
  assert.equal(fs.statSync(second.ggufPath).size, size);
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!, /the cached GGUF .* is damaged \(.*truncated.*\): converting .* again/);
  assert.deepEqual(await verifyGguf(second.ggufPath), { digest: "checked" });

  // Extra bytes at the end are damage too; the result says what was wrong.
  fs.appendFileSync(second.ggufPath, "junk");
  const third = await ensureGgufDetailed(modelDir, { cacheDir, warn: () => undefined });
  assert.equal(third.source, "converted");
  assert.match(third.rebuilt ?? "", /extra bytes at the end/);
  const fourth = await ensureGgufDetailed(modelDir, { cacheDir });
  assert.equal(fourth.source, "fingerprint");
  assert.equal(fourth.rebuilt, undefined);
});

test("convert --verify finds corrupted tensor data in the cache (the quick check cannot) and rebuilds it", async () => {
  const cacheDir = path.join(work, "cache-corrupt");
  const { path: file } = await ensureGgufDetailed(modelDir, { cacheDir });
  corrupt(file);
  const quick = await ensureGgufDetailed(modelDir, { cacheDir });
  assert.equal(quick.source, "fingerprint", "same size, parsable header: the quick check passes");
  const r = cli("convert", "--model", modelDir, "--cache-dir", cacheDir, "--verify");
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, `${file}\n`);
  assert.match(
    r.stderr,
    /warning: the cached GGUF .* is damaged \(its content does not match the SHA-256 it records .*the data is corrupted\): converting/,
  );
  assert.deepEqual(await verifyGguf(file), { digest: "checked" });
});

test("convert --verify --model FILE.gguf: exit 1 (GGUF_DAMAGED) when truncated or corrupted, 0 when whole", async () => {
  const cacheDir = path.join(work, "cache-files");
  const { path: good } = await ensureGgufDetailed(modelDir, { cacheDir });
  const corrupted = copy(good, "corrupted.gguf");
  corrupt(corrupted);
  const truncated = copy(good, "truncated.gguf");
  fs.truncateSync(truncated, fs.statSync(truncated).size - 1);

  const ok = cli("convert", "--model", good, "--verify");
  assert.equal(ok.status, 0, ok.stderr);
  assert.match(ok.stderr, /OK \(the SHA-256 it records matches its content\)/);
  const bad = cli("convert", "--model", corrupted, "--verify");
  assert.equal(bad.status, 1);
  assert.match(
    bad.stderr,
    /^qwen3guard: .*corrupted\.gguf is damaged: its content does not match the SHA-256/,
  );
  const short = cli("convert", "--model", truncated, "--verify");
  assert.equal(short.status, 1);
  assert.match(short.stderr, /^qwen3guard: .*truncated\.gguf is damaged: .*truncated/);
  const notAFolder = cli("convert", "--model", good);
  assert.equal(notAFolder.status, 1);
  assert.match(
    notAFolder.stderr,
    /is a file: --model takes a Hugging Face model folder \(to check a GGUF file, add --verify\)/,
  );

  // Given as the model, a damaged GGUF is refused with a typed error.
  await assert.rejects(prepareGenAssets(truncated), (e: unknown) => {
    assert.ok(e instanceof GgufIntegrityError, String(e));
    assert.ok(isQwen3GuardError(e, "GGUF_DAMAGED"));
    return true;
  });
  const padded = copy(good, "padded.gguf");
  fs.appendFileSync(padded, Buffer.alloc(32));
  await assert.rejects(prepareGenAssets(padded), /padded\.gguf is damaged: .*extra bytes at the end/);
});

test("a GGUF without a recorded digest (not ours) gets the structural check only", async () => {
  const file = path.join(work, "foreign.gguf");
  await writeGguf(file, new Map([["general.architecture", gguf.str("qwen3")]]), [
    { name: "w", ne: [32], type: 0, data: () => [new Uint8Array(128)] },
  ]);
  assert.deepEqual(await verifyGguf(file), { digest: "absent" });
  const r = cli("convert", "--model", file, "--verify");
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /records no qwen3guard\.sha256 .*could not be checked/);
  fs.truncateSync(file, fs.statSync(file).size - 8);
  assert.match((await verifyGguf(file)).problem ?? "", /extends past the end of the file/);
});
