/**
 * Load on loopback: 50 streaming clients at once through the moderating proxy, with two Stream sequences, so most
 * sessions queue for a free one. Every client gets its whole answer, memory stays bounded, and every session is
 * freed at the end. The upstream is the fake OpenAI-compatible server (test/server/fake-upstream.ts).
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { FastifyInstance } from "fastify";
import OpenAI from "openai";
import { parseServerConfig } from "../../src/server/config.js";
import { createServer } from "../../src/server/create-server.js";
import { loadServerRuntime, type ServerRuntime } from "../../src/server/runtime.js";
import { FakeUpstream } from "./fake-upstream.js";
import { postJson, startDemoServer } from "./helpers.js";

let dir: string;
let runtime: ServerRuntime;
let app: FastifyInstance;
let upstream: FakeUpstream;
let client: OpenAI;

const WORDS = Array.from({ length: 16 }, (_, i) => ` word${i}`);

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "proxy-load-"));
  upstream = await new FakeUpstream().start();
  upstream.script = () => ({ kind: "stream", chunks: WORDS, delayMs: 5 });
  const config = parseServerConfig({
    demo: true,
    engine: { cacheDir: path.join(dir, "cache"), gpu: "cpu", contextSize: 512, sequences: 2 },
    upstream: { url: upstream.url, timeoutMs: 60_000 },
    logLevel: "silent",
  });
  runtime = await loadServerRuntime(config);
  app = await createServer(runtime, { logger: false });
  await app.listen({ host: "127.0.0.1", port: 0 });
  const address = app.server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  client = new OpenAI({
    apiKey: "none",
    baseURL: `http://127.0.0.1:${port}/v1`,
    maxRetries: 0,
    timeout: 120_000,
  });
});

after(async () => {
  await app?.close();
  await runtime?.close();
  await upstream?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

async function one(i: number): Promise<string> {
  const stream = await client.chat.completions.create({
    model: "m",
    messages: [{ role: "user", content: `Tell me story number ${i}.` }],
    stream: true,
  });
  let text = "";
  for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? "";
  return text;
}

test("50 concurrent streaming clients complete with bounded memory; sessions queue and are all freed", async () => {
  await one(-1); // warm up
  global.gc?.();
  const before = process.memoryUsage().rss;
  let peak = before;
  let mostOpen = 0;
  const sampler = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
    mostOpen = Math.max(mostOpen, runtime.stream!.openSessions);
  }, 20);
  const started = Date.now();
  try {
    const texts = await Promise.all(Array.from({ length: 50 }, (_, i) => one(i)));
    for (const text of texts) assert.equal(text, WORDS.join(""));
  } finally {
    clearInterval(sampler);
  }
  const growthMiB = (peak - before) / 2 ** 20;
  assert.ok(mostOpen <= 2, `at most the 2 sequences were open at once (saw ${mostOpen}): the rest queued`);
  assert.ok(growthMiB < 150, `RSS grew ${growthMiB.toFixed(0)} MiB for 50 streams (bound 150 MiB)`);
  assert.equal(runtime.stream!.openSessions, 0);
  assert.equal(runtime.streams.size, 0);
  assert.equal(upstream.received.length, 51);
  process.stdout.write(
    `# 50 streams in ${((Date.now() - started) / 1000).toFixed(1)} s, RSS +${growthMiB.toFixed(0)} MiB at peak\n`,
  );
});

test("the proxy takes Stream sessions through the bounded queue: beyond its waiting room a chat request gets 429 with Retry-After and never reaches the upstream", async () => {
  const small = await startDemoServer({
    engine: { sequences: 1 },
    limits: { streamQueueSize: 1, retryAfterSeconds: 2 },
    upstream: { url: upstream.url, timeoutMs: 60_000 },
  });
  const saved = upstream.script;
  upstream.script = (body) =>
    body.stream ? { kind: "stream", chunks: WORDS, delayMs: 40 } : { kind: "json", content: WORDS.join("") };
  const received = upstream.received.length;
  const post = (stream: boolean) =>
    postJson(small.base, "/v1/chat/completions", {
      model: "m",
      messages: [{ role: "user", content: "Tell me a story." }],
      stream,
    });
  try {
    const first = post(true); // holds the one session slot while its answer streams
    const queue = small.runtime.queues.stream!;
    while (queue.running < 1) await new Promise((r) => setTimeout(r, 5));
    const second = post(false); // waits for the slot
    while (queue.waiting < 1) await new Promise((r) => setTimeout(r, 5));
    const refused = await post(true);
    assert.equal(refused.status, 429);
    assert.equal(refused.headers.get("retry-after"), "2");
    assert.equal(refused.body.error.code, "QUEUE_FULL");
    const [a, b] = await Promise.all([first, second]);
    assert.equal(a.status, 200);
    assert.equal(b.status, 200);
    assert.equal(b.body.choices[0].message.content, WORDS.join(""));
    assert.equal(upstream.received.length - received, 2, "the refused request never reached the upstream");
    assert.equal(queue.running, 0, "every slot was given back");
    assert.equal(small.runtime.stream!.openSessions, 0);
  } finally {
    upstream.script = saved;
    await small.close();
  }
});
