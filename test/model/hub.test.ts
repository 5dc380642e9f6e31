/**
 * Tests of `pullModel` against a FAKE Hugging Face hub (test/helpers/fake-hub.ts): a real HTTP server on
 * 127.0.0.1 that imitates the hub's API, because the real hub cannot be reached from the test machines.
 * The client code under test is the real @huggingface/hub library plus our resume/verify/cache layer.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import {
  ChecksumMismatchError,
  HubError,
  HubHttpError,
  HubUnreachableError,
  pullModel,
  type PullProgress,
} from "../../src/model/hub/index.js";
import { FakeHub, fakeCommitSha, pseudoRandomBytes, type FakeFile } from "../helpers/fake-hub.js";

const enc = (s: string) => new TextEncoder().encode(s);
const REPO = "Qwen/Qwen3Guard-Gen-0.6B";
const MAIN = fakeCommitSha("main-1");
const V1 = fakeCommitSha("v1");
const WEIGHTS = pseudoRandomBytes(256 * 1024, 7);

const genFiles: FakeFile[] = [
  { path: ".gitattributes", content: enc("*.safetensors filter=lfs\n") },
  { path: "README.md", content: enc("# tiny\n") },
  {
    path: "config.json",
    content: enc(JSON.stringify({ architectures: ["Qwen3ForCausalLM"], model_type: "qwen3" })),
  },
  { path: "generation_config.json", content: enc("{}") },
  { path: "tokenizer.json", content: enc(JSON.stringify({ version: "1.0", model: { type: "BPE" } })) },
  { path: "tokenizer_config.json", content: enc(JSON.stringify({ add_bos_token: false })) },
  { path: "model.safetensors", content: WEIGHTS, lfs: true },
  { path: "modeling_extra.py", content: enc("print('skip me')\n") },
  { path: "onnx/model.onnx", content: pseudoRandomBytes(1000, 3), lfs: true },
];
const WANTED = [
  "config.json",
  "generation_config.json",
  "model.safetensors",
  "tokenizer.json",
  "tokenizer_config.json",
];

const ggufFiles: FakeFile[] = [
  { path: "README.md", content: enc("# gguf\n") },
  {
    path: "tiny-Q8_0.gguf",
    content: new Uint8Array([0x47, 0x47, 0x55, 0x46, 3, 0, 0, 0, ...pseudoRandomBytes(500, 1)]),
    lfs: true,
  },
  {
    path: "tiny-F16.gguf",
    content: new Uint8Array([0x47, 0x47, 0x55, 0x46, 3, 0, 0, 0, ...pseudoRandomBytes(900, 2)]),
    lfs: true,
  },
];

let hub: FakeHub;
before(async () => {
  hub = await FakeHub.start({
    repos: {
      [REPO]: { refs: { main: MAIN, v1: V1 }, files: genFiles },
      "someone/tiny-GGUF": { refs: { main: fakeCommitSha("gguf") }, files: ggufFiles },
    },
  });
});
after(async () => hub.close());

function tmpCache(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), "qg-hub-"));
}

/** Options isolated from the caller's environment (no HF_TOKEN or HF_ENDPOINT leaking in). */
function opts(cacheDir: string, extra: Record<string, unknown> = {}) {
  return { cacheDir, endpoint: hub.url, env: {}, retryDelayMs: 0, ...extra };
}

function fileOf(p: string): Uint8Array {
  return genFiles.find((f) => f.path === p)!.content;
}

async function closedPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const { port } = s.address() as net.AddressInfo;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

test("pull downloads exactly the model files of the resolved commit, verified, into <cache>/hub/<owner>--<name>/<sha>", async () => {
  const cacheDir = tmpCache();
  hub.requests.length = 0;
  const events: PullProgress[] = [];
  const result = await pullModel(REPO, { ...opts(cacheDir), onProgress: (p) => events.push(p) });

  assert.equal(result.commit, MAIN);
  assert.equal(result.kind, "hf-folder");
  assert.equal(result.dir, path.join(cacheDir, "hub", "Qwen--Qwen3Guard-Gen-0.6B", MAIN));
  assert.equal(result.fromCache, false);
  const listed = fs
    .readdirSync(result.dir)
    .filter((f) => !f.startsWith("."))
    .sort();
  assert.deepEqual(listed, WANTED);
  for (const f of WANTED)
    assert.deepEqual(new Uint8Array(fs.readFileSync(path.join(result.dir, f))), fileOf(f), f);
  const wantedBytes = WANTED.reduce((n, f) => n + fileOf(f).byteLength, 0);
  assert.equal(result.downloadedBytes, wantedBytes);
  assert.equal(
    fs.readFileSync(path.join(cacheDir, "hub", "Qwen--Qwen3Guard-Gen-0.6B", "refs", "main"), "utf8").trim(),
    MAIN,
  );

  // The tree listing was paginated (page size 3) and followed to the end.
  assert.ok(hub.requests.filter((r) => r.url.includes("/tree/")).length >= 3);
  // Files were fetched at the commit, not at the moving branch name.
  assert.ok(
    hub
      .downloadRequests()
      .filter((r) => r.url.includes("/resolve/"))
      .every((r) => r.url.includes(MAIN)),
  );
  // Progress reached the total and never exceeded it.
  const last = events.at(-1)!;
  assert.equal(last.done, wantedBytes);
  assert.equal(last.total, wantedBytes);
  assert.ok(events.every((e) => e.done <= e.total && e.fileDone <= e.fileTotal));
  assert.ok(events.some((e) => e.file === "model.safetensors" && e.fileDone > 0 && e.fileDone < e.fileTotal));

  // Second pull: one metadata request, no download request, nothing transferred.
  hub.requests.length = 0;
  const again = await pullModel(REPO, opts(cacheDir));
  assert.equal(again.dir, result.dir);
  assert.equal(again.fromCache, true);
  assert.equal(again.downloadedBytes, 0);
  assert.equal(hub.downloadRequests().length, 0);
  assert.equal(hub.requests.length, 1);
});

test("an interrupted download keeps its partial file and the next pull resumes it with a Range request", async () => {
  const cacheDir = tmpCache();
  hub.cut = { path: "model.safetensors", afterBytes: 100_000, times: 1 };
  await assert.rejects(pullModel(REPO, opts(cacheDir, { maxRetries: 0 })), (e: unknown) => {
    assert.ok(e instanceof HubError && e.reason === "incomplete", String(e));
    assert.match(e.message, /model\.safetensors.*interrupted.*resumes/);
    return true;
  });
  const dir = path.join(cacheDir, "hub", "Qwen--Qwen3Guard-Gen-0.6B", MAIN);
  const partial = path.join(dir, "model.safetensors.incomplete");
  const have = fs.statSync(partial).size;
  assert.ok(have > 0 && have < WEIGHTS.byteLength, `partial holds ${have} bytes`);
  assert.equal(fs.existsSync(path.join(dir, "model.safetensors")), false);

  hub.requests.length = 0;
  const result = await pullModel(REPO, opts(cacheDir));
  const ranges = hub.downloadRequests().map((r) => r.headers.range);
  assert.ok(
    ranges.includes(`bytes=${have}-${WEIGHTS.byteLength - 1}`),
    `range headers seen: ${ranges.join(", ")}`,
  );
  assert.deepEqual(new Uint8Array(fs.readFileSync(path.join(result.dir, "model.safetensors"))), WEIGHTS);
  assert.equal(fs.existsSync(partial), false);
  // Small files finished in the first attempt were not fetched again.
  assert.ok(!hub.downloadRequests().some((r) => r.url.endsWith("/config.json")));
});

test("a dropped connection is resumed within the same pull when retries are allowed", async () => {
  const cacheDir = tmpCache();
  hub.cut = { path: "model.safetensors", afterBytes: 50_000, times: 2 };
  hub.requests.length = 0;
  const result = await pullModel(REPO, opts(cacheDir, { maxRetries: 3 }));
  assert.deepEqual(new Uint8Array(fs.readFileSync(path.join(result.dir, "model.safetensors"))), WEIGHTS);
  const resumed = hub.downloadRequests().filter((r) => r.headers.range && r.headers.range !== "bytes=0-0");
  assert.ok(resumed.length >= 2, "two resumptions with Range requests");
  assert.equal(hub.cut?.times, 0);
});

test("bytes that do not match the hub's sha256 fail verification and leave nothing at the final path", async () => {
  const cacheDir = tmpCache();
  hub.corrupt.add("model.safetensors");
  try {
    await assert.rejects(pullModel(REPO, opts(cacheDir)), (e: unknown) => {
      assert.ok(e instanceof ChecksumMismatchError, String(e));
      assert.equal(e.algorithm, "sha256");
      assert.match(e.message, /model\.safetensors: checksum mismatch.*deleted/);
      return true;
    });
  } finally {
    hub.corrupt.delete("model.safetensors");
  }
  const dir = path.join(cacheDir, "hub", "Qwen--Qwen3Guard-Gen-0.6B", MAIN);
  assert.equal(fs.existsSync(path.join(dir, "model.safetensors")), false);
  assert.equal(fs.existsSync(path.join(dir, "model.safetensors.incomplete")), false);
  assert.equal(fs.existsSync(path.join(dir, ".qwen3guard-snapshot.json")), false);
});

test("a small (non-LFS) file is verified against its git blob sha1", async () => {
  const cacheDir = tmpCache();
  hub.corrupt.add("config.json");
  try {
    await assert.rejects(pullModel(REPO, opts(cacheDir)), (e: unknown) => {
      assert.ok(e instanceof ChecksumMismatchError && e.algorithm === "git-sha1", String(e));
      return true;
    });
  } finally {
    hub.corrupt.delete("config.json");
  }
  assert.equal(
    fs.existsSync(path.join(cacheDir, "hub", "Qwen--Qwen3Guard-Gen-0.6B", MAIN, "config.json")),
    false,
  );
});

test("HF_TOKEN is sent as a Bearer token on every request; without it a gated hub says what to do", async () => {
  const gated = await FakeHub.start({
    repos: { [REPO]: { refs: { main: MAIN }, files: genFiles } },
    requiredToken: "hf_secret",
  });
  try {
    const cacheDir = tmpCache();
    await assert.rejects(pullModel(REPO, { cacheDir, endpoint: gated.url, env: {} }), (e: unknown) => {
      assert.ok(e instanceof HubHttpError && e.status === 401, String(e));
      assert.match(e.message, /HF_TOKEN/);
      return true;
    });
    gated.requests.length = 0;
    const result = await pullModel(REPO, {
      cacheDir,
      env: { HF_ENDPOINT: gated.url, HF_TOKEN: "hf_secret" },
    });
    assert.equal(result.commit, MAIN);
    assert.ok(gated.requests.length > 3);
    assert.ok(gated.requests.every((r) => r.headers.authorization === "Bearer hf_secret"));
    assert.ok(gated.downloadRequests().length > 0);
  } finally {
    await gated.close();
  }
});

test("an unreachable endpoint fails fast and says how to pass the model by path", async () => {
  const endpoint = `http://127.0.0.1:${await closedPort()}`;
  const t0 = Date.now();
  await assert.rejects(
    pullModel(REPO, { cacheDir: tmpCache(), env: { HF_ENDPOINT: endpoint } }),
    (e: unknown) => {
      assert.ok(e instanceof HubUnreachableError, String(e));
      assert.ok(e.message.startsWith(`could not reach ${endpoint} (`), e.message);
      assert.match(e.message, /offline.*--model \/path\/to\/model-folder.*--model file\.gguf.*HF_ENDPOINT/);
      return true;
    },
  );
  assert.ok(Date.now() - t0 < 3000, `took ${Date.now() - t0} ms`);
});

test("an endpoint that accepts connections but never answers hits the connect deadline", async () => {
  const sockets: net.Socket[] = [];
  const silent = net.createServer((s) => sockets.push(s));
  await new Promise<void>((r) => silent.listen(0, "127.0.0.1", r));
  const endpoint = `http://127.0.0.1:${(silent.address() as net.AddressInfo).port}`;
  try {
    const t0 = Date.now();
    await assert.rejects(
      pullModel(REPO, { cacheDir: tmpCache(), endpoint, env: {}, connectTimeoutMs: 300 }),
      (e: unknown) => {
        assert.ok(e instanceof HubUnreachableError, String(e));
        assert.match(e.message, /no response within 300 ms/);
        return true;
      },
    );
    assert.ok(Date.now() - t0 < 2000, `took ${Date.now() - t0} ms`);
  } finally {
    sockets.forEach((s) => s.destroy());
    await new Promise<void>((r) => silent.close(() => r()));
  }
});

test("a cached revision is used when the hub is unreachable or offline mode is on", async () => {
  const cacheDir = tmpCache();
  const first = await pullModel(`${REPO}@v1`, opts(cacheDir));
  assert.equal(first.commit, V1);
  const down = `http://127.0.0.1:${await closedPort()}`;
  const offline = await pullModel(`${REPO}@v1`, { cacheDir, endpoint: down, env: {} });
  assert.equal(offline.dir, first.dir);
  assert.equal(offline.offline, true);

  hub.requests.length = 0;
  const byEnv = await pullModel(REPO, {
    cacheDir,
    endpoint: hub.url,
    env: { HF_HUB_OFFLINE: "1" },
    revision: "v1",
  });
  assert.equal(byEnv.commit, V1);
  assert.equal(hub.requests.length, 0);
  await assert.rejects(
    pullModel(REPO, { cacheDir, endpoint: hub.url, env: { HF_HUB_OFFLINE: "1" } }),
    /not in the cache.*offline mode/,
  );
});

test("a GGUF repository needs a choice when it holds several .gguf files, and then fetches only that one", async () => {
  const cacheDir = tmpCache();
  await assert.rejects(pullModel("someone/tiny-GGUF", opts(cacheDir)), (e: unknown) => {
    assert.ok(e instanceof HubError && e.reason === "gguf-choice", String(e));
    assert.match(e.message, /tiny-Q8_0\.gguf/);
    assert.match(e.message, /tiny-F16\.gguf/);
    return true;
  });
  const result = await pullModel("someone/tiny-GGUF", opts(cacheDir, { gguf: "Q8_0" }));
  assert.equal(result.kind, "gguf");
  assert.equal(result.ggufFile, path.join(result.dir, "tiny-Q8_0.gguf"));
  assert.deepEqual(
    fs.readdirSync(result.dir).filter((f) => !f.startsWith(".")),
    ["tiny-Q8_0.gguf"],
  );
});

test("unknown repositories and malformed names are reported as such", async () => {
  await assert.rejects(pullModel("Qwen/NoSuchModel", opts(tmpCache())), (e: unknown) => {
    assert.ok(e instanceof HubHttpError && e.status === 404, String(e));
    assert.match(e.message, /Check the model name/);
    return true;
  });
  await assert.rejects(pullModel("not a name", opts(tmpCache())), /not a Hugging Face model name/);
  await assert.rejects(pullModel("a/b/c", opts(tmpCache())), /owner\/name\[@revision\]/);
});
