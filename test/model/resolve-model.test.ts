/**
 * resolveModel: local folders and GGUF files, and hub names looked up in the cache or pulled from a FAKE hub
 * (test/helpers/fake-hub.ts, a loopback HTTP server imitating the Hugging Face API, because the real hub
 * cannot be reached from the test machines).
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { spawnSync } from "node:child_process";
import { pathToFileURL } from "node:url";
import { ModelSpecError, resolveModel } from "../../src/model/resolve-model.js";
import { pullModel } from "../../src/model/hub/index.js";
import { FakeHub, fakeCommitSha, pseudoRandomBytes } from "../helpers/fake-hub.js";
import { repoRoot } from "../helpers/repo-data.js";

const enc = (s: string) => new TextEncoder().encode(s);
const GGUF_BYTES = new Uint8Array([0x47, 0x47, 0x55, 0x46, 3, 0, 0, 0, ...pseudoRandomBytes(64, 5)]);

let hub: FakeHub;
before(async () => {
  hub = await FakeHub.start({
    repos: {
      "Qwen/Qwen3Guard-Stream-0.6B": {
        refs: { main: fakeCommitSha("stream") },
        files: [
          { path: "config.json", content: enc(JSON.stringify({ architectures: ["Qwen3ForGuardModel"] })) },
          { path: "tokenizer.json", content: enc("{}") },
          { path: "tokenizer_config.json", content: enc("{}") },
          { path: "model.safetensors", content: pseudoRandomBytes(4096, 9), lfs: true },
        ],
      },
      "someone/tiny-GGUF": {
        refs: { main: fakeCommitSha("gguf") },
        files: [{ path: "tiny.gguf", content: GGUF_BYTES, lfs: true }],
      },
    },
  });
});
after(async () => hub.close());

function tmp(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), "qg-resolve-"));
}

function folder(files: Record<string, string | Uint8Array>): string {
  const dir = tmp();
  for (const [name, content] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), content);
  return dir;
}

function expectSpecError(code: string, pattern: RegExp) {
  return (e: unknown) => {
    assert.ok(e instanceof ModelSpecError, String(e));
    assert.equal(e.reason, code, e.message);
    assert.match(e.message, pattern);
    return true;
  };
}

test("a Gen snapshot folder resolves to hf-folder/gen and reports missing tokenizer files", async () => {
  const dir = folder({
    "config.json": JSON.stringify({ architectures: ["Qwen3ForCausalLM"], model_type: "qwen3" }),
    "model.safetensors": "x",
    "tokenizer.json": "{}",
  });
  const r = await resolveModel(dir);
  assert.equal(r.kind, "hf-folder");
  assert.ok(r.kind === "hf-folder");
  assert.equal(r.dir, dir);
  assert.equal(r.flavor, "gen");
  assert.deepEqual(r.architectures, ["Qwen3ForCausalLM"]);
  assert.deepEqual(r.missingOptional, ["tokenizer_config.json"]);
  assert.deepEqual(r.source, { type: "path" });
});

test("a Stream folder with sharded weights resolves to flavor stream; unknown architectures say unknown", async () => {
  const index = JSON.stringify({
    weight_map: { a: "model-00001-of-00002.safetensors", b: "model-00002-of-00002.safetensors" },
  });
  const dir = folder({
    "config.json": JSON.stringify({ architectures: ["Qwen3ForGuardModel"] }),
    "model.safetensors.index.json": index,
    "model-00001-of-00002.safetensors": "x",
    "model-00002-of-00002.safetensors": "x",
  });
  const r = await resolveModel(dir);
  assert.ok(r.kind === "hf-folder" && r.flavor === "stream");
  const other = await resolveModel(
    folder({ "config.json": JSON.stringify({ architectures: ["LlamaForCausalLM"] }), "m.safetensors": "x" }),
  );
  assert.ok(other.kind === "hf-folder" && other.flavor === "unknown");
});

test("an incomplete folder is rejected with the list of what is missing", async () => {
  await assert.rejects(
    resolveModel(folder({ "README.md": "hi" })),
    expectSpecError("incomplete-folder", /missing config\.json, model weights \(\*\.safetensors\)/),
  );
  const index = JSON.stringify({ weight_map: { a: "s1.safetensors", b: "s2.safetensors" } });
  await assert.rejects(
    resolveModel(
      folder({ "config.json": "{}", "model.safetensors.index.json": index, "s1.safetensors": "x" }),
    ),
    expectSpecError("incomplete-folder", /missing s2\.safetensors\./),
  );
  await assert.rejects(
    resolveModel(folder({ "model-Q8_0.gguf": GGUF_BYTES })),
    expectSpecError("incomplete-folder", /pass that file with --model .*model-Q8_0\.gguf/),
  );
  await assert.rejects(
    resolveModel(folder({ "config.json": "{not json", "model.safetensors": "x" })),
    expectSpecError("bad-config", /config\.json is not valid JSON/),
  );
});

test("a GGUF file is recognised by its magic bytes, not by its name", async () => {
  const dir = folder({
    "m.gguf": GGUF_BYTES,
    "renamed.bin": GGUF_BYTES,
    "bad.gguf": "GGML....",
    "config.json": "{}",
  });
  const r = await resolveModel(path.join(dir, "m.gguf"));
  assert.deepEqual(r, { kind: "gguf", file: path.join(dir, "m.gguf"), source: { type: "path" } });
  assert.equal((await resolveModel(path.join(dir, "renamed.bin"))).kind, "gguf");
  await assert.rejects(
    resolveModel(path.join(dir, "bad.gguf")),
    expectSpecError("not-gguf", /not a GGUF file.*truncated or corrupt/),
  );
  await assert.rejects(
    resolveModel(path.join(dir, "config.json")),
    expectSpecError("not-gguf", /pass its folder: --model /),
  );
});

test("paths that do not exist and strings that are not names say so", async () => {
  await assert.rejects(
    resolveModel("./no/such/model.gguf"),
    expectSpecError("not-found", /no such file or folder/),
  );
  await assert.rejects(
    resolveModel("/no/such/folder"),
    expectSpecError("not-found", /no such file or folder/),
  );
  await assert.rejects(
    resolveModel("just-a-word"),
    expectSpecError("bad-spec", /neither an existing path nor a hub name/),
  );
});

test("a hub name not in the cache fails without touching the network and tells the user to pull it", async () => {
  hub.requests.length = 0;
  await assert.rejects(
    resolveModel("Qwen/Qwen3Guard-Stream-0.6B", { cacheDir: tmp(), endpoint: hub.url, env: {} }),
    expectSpecError(
      "not-cached",
      /Run `qwen3guard pull Qwen\/Qwen3Guard-Stream-0\.6B` first.*--model \/path\/to/,
    ),
  );
  assert.equal(hub.requests.length, 0);
});

test("a cached hub name resolves offline; allowDownload pulls a missing one", async () => {
  const cacheDir = tmp();
  const pulled = await resolveModel("Qwen/Qwen3Guard-Stream-0.6B", {
    cacheDir,
    endpoint: hub.url,
    env: {},
    allowDownload: true,
  });
  assert.ok(pulled.kind === "hf-folder" && pulled.flavor === "stream");
  assert.ok(pulled.source.type === "hub" && pulled.source.downloaded);

  hub.requests.length = 0;
  const cached = await resolveModel("Qwen/Qwen3Guard-Stream-0.6B", {
    cacheDir,
    endpoint: "http://127.0.0.1:9",
    env: {},
  });
  assert.equal(hub.requests.length, 0);
  assert.ok(cached.kind === "hf-folder");
  assert.equal(
    cached.dir,
    path.join(cacheDir, "hub", "Qwen--Qwen3Guard-Stream-0.6B", fakeCommitSha("stream")),
  );
  assert.deepEqual(cached.source, {
    type: "hub",
    repo: "Qwen/Qwen3Guard-Stream-0.6B",
    revision: "main",
    commit: fakeCommitSha("stream"),
    downloaded: false,
  });
  // Another revision of the same name was never pulled.
  await assert.rejects(
    resolveModel("Qwen/Qwen3Guard-Stream-0.6B@v2", { cacheDir, env: {} }),
    expectSpecError("not-cached", /qwen3guard pull Qwen\/Qwen3Guard-Stream-0\.6B@v2/),
  );
});

test("a cached GGUF repository resolves to its .gguf file; the cache folder comes from QWEN3GUARD_CACHE", async () => {
  const cacheDir = tmp();
  await pullModel("someone/tiny-GGUF", { env: { QWEN3GUARD_CACHE: cacheDir, HF_ENDPOINT: hub.url } });
  const r = await resolveModel("someone/tiny-GGUF", { env: { QWEN3GUARD_CACHE: cacheDir } });
  assert.equal(r.kind, "gguf");
  assert.ok(r.kind === "gguf");
  assert.equal(r.file, path.join(cacheDir, "hub", "someone--tiny-GGUF", fakeCommitSha("gguf"), "tiny.gguf"));
  assert.deepEqual(new Uint8Array(fs.readFileSync(r.file)), GGUF_BYTES);
});

test("loading the package and resolving a local model never imports @huggingface/hub (only a pull does)", () => {
  const dir = folder({
    "config.json": JSON.stringify({ architectures: ["Qwen3ForCausalLM"], model_type: "qwen3" }),
    "model.safetensors": "x",
    "tokenizer.json": "{}",
  });
  // A resolve hook turns @huggingface/hub into a module that throws: importing it anywhere fails the child.
  const hook = `export async function resolve(spec, context, next) {
    if (spec === "@huggingface/hub")
      return { url: "data:text/javascript,throw new Error('@huggingface/hub was imported')", shortCircuit: true };
    return next(spec, context);
  }`;
  const script = `
    import { register } from "node:module";
    register("data:text/javascript," + encodeURIComponent(${JSON.stringify(hook)}));
    await import(${JSON.stringify(pathToFileURL(path.join(repoRoot, "src/guard/index.ts")).href)});
    const { resolveModel } = await import(${JSON.stringify(pathToFileURL(path.join(repoRoot, "src/model/resolve-model.ts")).href)});
    const r = await resolveModel(${JSON.stringify(dir)});
    process.stdout.write(r.kind);
  `;
  const child = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
    cwd: repoRoot,
    encoding: "utf8",
  });
  assert.equal(child.status, 0, child.stderr);
  assert.equal(child.stdout, "hf-folder");
});
