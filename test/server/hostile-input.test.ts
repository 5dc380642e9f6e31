/**
 * What a server must survive, on a demo server: malformed JSON, wrong types, huge bodies, invalid UTF-8, 10,000
 * messages, too much text, missing and wrong keys, a policy edit that breaks (the old policy stays) and a start with
 * a broken policy (refused, naming the file and key), a failing guard (503, fail closed), a slow guard (timeout), a
 * broken audit log (no response without its row), and a full queue (429 with Retry-After) — the process stays up.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import type { GenGuard } from "../../src/guard/gen-guard.js";
import { hashApiKey } from "../../src/server/auth.js";
import { parseServerConfig } from "../../src/server/config.js";
import { loadServerRuntime } from "../../src/server/runtime.js";
import { postJson, startDemoServer, type TestServer } from "./helpers.js";

let server: TestServer;
let word: string;

before(async () => {
  server = await startDemoServer(
    {
      tenants: {
        acme: { apiKeys: [hashApiKey("acme-key")], policy: "acme.yaml" },
        globex: { apiKeys: [hashApiKey("globex-key")] },
      },
      limits: { queueSize: 1, retryAfterSeconds: 3, bodyBytes: 512 * 1024, contentChars: 10_000 },
      audit: { path: "audit.sqlite" },
    },
    { "acme.yaml": "prompt:\n  categories:\n    Violent: flag\n" },
  );
  word = server.runtime.demo!.genTrigger;
});

after(async () => {
  await server?.close();
});

async function up(): Promise<void> {
  assert.equal((await fetch(`${server.base}/healthz`)).status, 200, "the process is up");
}

test("malformed JSON, wrong types, huge bodies, invalid UTF-8: 4xx with the OpenAI error body", async () => {
  const bad = await postJson(server.base, "/v1/moderations", '{"input": "x"');
  assert.equal(bad.status, 400);
  assert.equal(bad.body.error.code, "INVALID_JSON");
  const types = await postJson(server.base, "/v1/moderations", { input: 42 });
  assert.equal(types.status, 400);
  assert.equal(types.body.error.param, "input");
  const nested = await postJson(server.base, "/v1/moderations", { input: ["a", { type: "text", text: 1 }] });
  assert.equal(nested.status, 400);
  const parts = await postJson(server.base, "/v1/moderations", { input: [{ type: "text", text: 1 }] });
  assert.equal(parts.body.error.param, "input[0].text");
  const huge = await postJson(server.base, "/v1/moderations", { input: "x".repeat(600 * 1024) });
  assert.equal(huge.status, 413);
  assert.equal(huge.body.error.code, "BODY_TOO_LARGE");
  const invalidUtf8 = Buffer.concat([
    Buffer.from('{"input": "abc'),
    Buffer.from([0xff, 0xfe, 0xc3]),
    Buffer.from('"}'),
  ]);
  const utf8 = await postJson(server.base, "/v1/moderations", new Uint8Array(invalidUtf8));
  assert.equal(utf8.status, 400);
  assert.equal(utf8.body.error.code, "INVALID_JSON");
  assert.match(utf8.body.error.message, /UTF-8/);
  const proto = await postJson(
    server.base,
    "/v1/guard/moderate",
    '{"prompt": "x", "__proto__": {"model": 1}}',
  );
  assert.equal(proto.status, 200, "a __proto__ key is dropped, not merged");
  const empty = await postJson(server.base, "/v1/moderations", "");
  assert.equal(empty.status, 400);
  assert.equal(empty.body.error.code, "INVALID_JSON");
  const type = await fetch(`${server.base}/v1/moderations`, {
    method: "POST",
    headers: { "content-type": "application/xml", authorization: "Bearer acme-key" },
    body: "<input>hello</input>",
  });
  assert.equal(type.status, 415);
  await up();
});

test("10,000 messages, too many inputs, too much text: 400 naming the field and the limit", async () => {
  const many = Array.from({ length: 10_000 }, () => ({ role: "user", content: "" }));
  const r = await postJson(server.base, "/v1/guard/moderate", { messages: many });
  assert.equal(r.status, 400);
  assert.equal(r.body.error.code, "TOO_MANY_MESSAGES", "the same code as the proxy");
  assert.equal(r.body.error.param, "messages");
  assert.match(r.body.error.message, /at most 256 messages \(limits\.messages\)/);
  const inputs = await postJson(server.base, "/v1/moderations", { input: Array(65).fill("a") });
  assert.equal(inputs.status, 400);
  assert.match(inputs.body.error.message, /limits\.batchInputs/);
  const text = await postJson(server.base, "/v1/moderations", {
    input: ["x".repeat(6000), "y".repeat(6000)],
  });
  assert.equal(text.status, 400);
  assert.equal(text.body.error.code, "CONTENT_TOO_LONG");
  assert.equal(text.body.error.param, "input");
  await up();
});

test("missing or wrong API key: 401 on every guard endpoint", async () => {
  for (const route of ["/v1/moderations", "/v1/guard/moderate"]) {
    const none = await postJson(server.base, route, { input: "x", prompt: "x" }, null);
    assert.equal(none.status, 401);
    assert.equal(none.body.error.code, "API_KEY_MISSING");
    const wrong = await postJson(server.base, route, { input: "x", prompt: "x" }, "nope");
    assert.equal(wrong.body.error.code, "API_KEY_INVALID");
  }
});

test("a policy edit that breaks keeps the old policy; a valid one is taken", async () => {
  const file = path.join(server.dir, "acme.yaml");
  const action = async () =>
    (await postJson(server.base, "/v1/guard/moderate", { prompt: `a ${word}` })).body.results[0].action;
  assert.equal(await action(), "flag");
  fs.writeFileSync(file, "prompt:\n  categories:\n    Violence: allow\n");
  await new Promise((r) => setTimeout(r, 600));
  assert.equal(await action(), "flag", "the broken edit was rejected; the old policy is in force");
  fs.writeFileSync(file, "prompt:\n  categories:\n    Violent: allow\n");
  const deadline = Date.now() + 10_000;
  while ((await action()) !== "allow") {
    assert.ok(Date.now() < deadline, "the valid edit was never taken");
    await new Promise((r) => setTimeout(r, 100));
  }
});

test("a start with a broken policy fails, naming the file and the key", async () => {
  const file = path.join(server.dir, "broken.yaml");
  fs.writeFileSync(file, "mode: lenient\n");
  const config = parseServerConfig({ demo: true, policy: file, logLevel: "silent" });
  await assert.rejects(
    loadServerRuntime(config),
    (e: unknown) =>
      e instanceof Error &&
      (e as { code?: string }).code === "POLICY_INVALID" &&
      e.message.includes("broken.yaml") &&
      /mode/.test(e.message),
  );
});

test("a failing guard refuses the request (503 GUARD_FAILED), never answers safe", async () => {
  const gen = server.runtime.gen! as GenGuard & { moderate: GenGuard["moderate"] };
  const original = gen.moderate;
  gen.moderate = async () => {
    throw new Error("the engine broke");
  };
  try {
    for (const [route, body] of [
      ["/v1/moderations", { input: "hello" }],
      ["/v1/guard/moderate", { prompt: "hello" }],
    ] as const) {
      const r = await postJson(server.base, route, body);
      assert.equal(r.status, 503, route);
      assert.equal(r.body.error.code, "GUARD_FAILED");
      assert.equal(r.body.error.type, "server_error");
      assert.match(r.body.error.message, /refused: the engine broke/);
    }
  } finally {
    gen.moderate = original;
  }
  const stream = server.runtime.stream!;
  const openStream = stream.openStream;
  stream.openStream = async () => {
    throw new Error("no sequence");
  };
  try {
    const r = await postJson(server.base, "/v1/guard/moderate", { prompt: "hello", model: "stream" });
    assert.equal(r.status, 503);
    assert.equal(r.body.error.code, "GUARD_FAILED");
  } finally {
    stream.openStream = openStream;
  }
  assert.equal((await postJson(server.base, "/v1/moderations", { input: "hello" })).status, 200);
});

test("a guard slower than limits.requestTimeoutMs: 503 GUARD_TIMEOUT", async () => {
  const gen = server.runtime.gen!;
  const original = gen.moderate;
  const limits = server.runtime.config.limits;
  const saved = limits.requestTimeoutMs;
  gen.moderate = async (...args) => {
    await new Promise((r) => setTimeout(r, 800));
    return original.apply(gen, args);
  };
  limits.requestTimeoutMs = 200;
  try {
    const r = await postJson(server.base, "/v1/moderations", { input: "hello" });
    assert.equal(r.status, 503);
    assert.equal(r.body.error.code, "GUARD_TIMEOUT");
  } finally {
    limits.requestTimeoutMs = saved;
    gen.moderate = original;
  }
  await new Promise((r) => setTimeout(r, 1000)); // the abandoned call finishes and frees its slot
  assert.equal(server.runtime.queues.gen!.running, 0);
});

test("a full queue: 429 with Retry-After and the rate-limit error body; the queued requests still finish", async () => {
  const gen = server.runtime.gen!;
  const original = gen.moderate;
  let open!: () => void;
  const gate = new Promise<void>((resolve) => (open = resolve));
  gen.moderate = async (...args) => {
    await gate; // hold the engine busy
    return original.apply(gen, args);
  };
  try {
    // 2 sequences run, 1 request waits (queueSize 1), the next is refused
    const accepted = [1, 2, 3].map((i) => postJson(server.base, "/v1/moderations", { input: `hello ${i}` }));
    const queue = server.runtime.queues.gen!;
    while (queue.waiting < 1) await new Promise((r) => setTimeout(r, 10));
    const metrics = await (await fetch(`${server.base}/metrics`)).text();
    assert.match(metrics, /qwen3guard_queue_depth\{model="gen"\} 1/);
    const refused = await postJson(server.base, "/v1/moderations", { input: "one too many" });
    assert.equal(refused.status, 429);
    assert.equal(refused.headers.get("retry-after"), "3");
    assert.equal(refused.body.error.type, "rate_limit_error");
    assert.equal(refused.body.error.code, "QUEUE_FULL");
    // a batch counts as one waiting request
    const batch = await postJson(server.base, "/v1/guard/moderate", {
      items: [{ prompt: "a" }, { prompt: "b" }],
    });
    assert.equal(batch.status, 429);
    open();
    for (const r of await Promise.all(accepted)) assert.equal(r.status, 200);
  } finally {
    open();
    gen.moderate = original;
  }
  await up();
});

test("no response without its audit row: a broken audit log refuses the request (503)", async () => {
  const audit = server.runtime.audit!;
  audit.close();
  const r = await postJson(server.base, "/v1/moderations", { input: "hello" });
  assert.equal(r.status, 503);
  assert.equal(r.body.error.code, "AUDIT_LOG_FAILED");
  await up();
});
