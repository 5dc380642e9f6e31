/**
 * The server's frame on a real loopback port: configuration errors name the key, API keys map to tenants and are
 * checked, health/readiness/metrics, the OpenAI-style error body, request ids, and the toy-model label of --demo.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { FastifyInstance } from "fastify";
import { hashApiKey } from "../../src/server/auth.js";
import { loadServerConfig, parseServerConfig, ServerConfigError } from "../../src/server/config.js";
import { createServer } from "../../src/server/create-server.js";
import { loadServerRuntime, type ServerRuntime } from "../../src/server/runtime.js";

let dir: string;
let runtime: ServerRuntime;
let app: FastifyInstance;
let base: string;

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "server-basics-"));
  const config = parseServerConfig({
    demo: true,
    engine: { cacheDir: path.join(dir, "cache"), gpu: "cpu", contextSize: 1024, sequences: 2 },
    tenants: { acme: { apiKeys: [hashApiKey("acme-key")] }, globex: { apiKeys: [hashApiKey("globex-key")] } },
    logLevel: "silent",
  });
  runtime = await loadServerRuntime(config);
  app = await createServer(runtime, { logger: false });
  app.get("/v1/whoami", async (request) => ({ tenant: request.tenant }));
  await app.listen({ host: "127.0.0.1", port: 0 });
  const address = app.server.address();
  base = `http://127.0.0.1:${typeof address === "object" && address ? address.port : 0}`;
});

after(async () => {
  await app?.close();
  await runtime?.close();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

test("configuration errors name the key", () => {
  const cases: [unknown, string][] = [
    [{ demo: true, port: "8080" }, "port"],
    [{ demo: true, limits: { bodyBytes: -1 } }, "limits.bodyBytes"],
    [{ demo: true, tenants: { acme: { apiKeys: ["plain-text-key"] } } }, "tenants.acme.apiKeys.0"],
    [{ demo: true, upstream: { url: "not a url" } }, "upstream.url"],
    [{ demo: true, upstream: { url: "ftp://llm.example/v1" } }, "upstream.url"],
    [{ demo: true, bogus: 1 }, "(root)"],
    [{}, "models"],
  ];
  for (const [doc, key] of cases) {
    assert.throws(
      () => parseServerConfig(doc),
      (e: unknown) => e instanceof ServerConfigError && e.key === key && e.code === "SERVER_CONFIG_INVALID",
      `${JSON.stringify(doc)} → ${key}`,
    );
  }
  const file = path.join(dir, "bad.yaml");
  fs.writeFileSync(file, "port: [1, 2\n");
  assert.throws(
    () => loadServerConfig(file),
    (e: unknown) => e instanceof ServerConfigError && e.message.includes("bad.yaml"),
  );
  assert.throws(() => loadServerConfig(path.join(dir, "missing.yaml")), /no such file/);
  // flags are checked like the file's keys
  for (const url of ["notaurl", "localhost:8000", "file:///etc/passwd"]) {
    assert.throws(
      () => loadServerConfig(undefined, { demo: true, upstreamUrl: url }),
      (e: unknown) =>
        e instanceof ServerConfigError && e.key === "upstream.url" && e.message.includes("--upstream-url"),
      url,
    );
  }
  assert.equal(
    loadServerConfig(undefined, { demo: true, upstreamUrl: "https://llm.example/v1" }).upstream.url,
    "https://llm.example/v1",
  );
});

test("flags override the file and relative paths resolve against it", () => {
  const file = path.join(dir, "conf", "q.yaml");
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(
    file,
    "port: 9000\nmodels:\n  gen: ./models/gen\npolicy: p.yaml\naudit:\n  path: a.sqlite\n",
  );
  const config = loadServerConfig(file, { port: 9100 });
  assert.equal(config.port, 9100);
  assert.equal(config.models.gen, path.join(dir, "conf", "models", "gen"));
  assert.equal(config.policy, path.join(dir, "conf", "p.yaml"));
  assert.equal(config.audit.path, path.join(dir, "conf", "a.sqlite"));
  assert.equal(config.limits.bodyBytes, 1 << 20, "defaults fill nested sections");
});

test("API keys: missing or wrong → 401 with an OpenAI-style body; a right key names its tenant", async () => {
  const none = await fetch(`${base}/v1/whoami`);
  assert.equal(none.status, 401);
  const body = (await none.json()) as { error: { code: string; type: string } };
  assert.equal(body.error.code, "API_KEY_MISSING");
  assert.equal(body.error.type, "authentication_error");
  const wrong = await fetch(`${base}/v1/whoami`, { headers: { authorization: "Bearer nope" } });
  assert.equal(wrong.status, 401);
  for (const [key, tenant] of [
    ["acme-key", "acme"],
    ["globex-key", "globex"],
  ]) {
    const ok = await fetch(`${base}/v1/whoami`, { headers: { authorization: `Bearer ${key}` } });
    assert.equal(ok.status, 200);
    assert.deepEqual(await ok.json(), { tenant });
  }
  // health and metrics need no key
  assert.equal((await fetch(`${base}/healthz`)).status, 200);
});

test("readiness, metrics, request ids, the demo label, and a 404 in the error format", async () => {
  const ready = await fetch(`${base}/readyz`);
  assert.equal(ready.status, 200);
  assert.deepEqual(await ready.json(), {
    status: "ready",
    models: { gen: true, stream: true },
    synthetic: "hand-set",
  });
  const missing = await fetch(`${base}/nope`, { headers: { "x-request-id": "my-id-1" } });
  assert.equal(missing.status, 404);
  assert.equal(missing.headers.get("x-request-id"), "my-id-1");
  assert.equal(missing.headers.get("x-qwen3guard-synthetic"), "demo toy models");
  assert.equal(((await missing.json()) as { error: { code: string } }).error.code, "NOT_FOUND");
  const metrics = await (await fetch(`${base}/metrics`)).text();
  assert.match(metrics, /qwen3guard_http_requests_total\{route="\/readyz",status="200"\} 1/);
  assert.match(metrics, /qwen3guard_stream_sessions_open 0/);
});
