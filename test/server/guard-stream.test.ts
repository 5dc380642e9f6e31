/**
 * The WebSocket session (GET /v1/guard/stream) with a real `ws` client against a demo server: the prompt verdict,
 * one frame per answer token, the trigger at the toy model's second unsafe word, the final verdict and decision;
 * token-id input; bad messages answered with error frames on a session that stays usable; auth on the upgrade;
 * a closed socket freeing its session; a full queue, an idle session and an oversized message.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import WebSocket from "ws";
import { loadBundledQwen3Tokenizer } from "../../src/model/tokenizer/index.js";
import type { GuardQueue } from "../../src/server/guard-queue.js";
import { startDemoServer, type Json, type TestServer } from "./helpers.js";

let server: TestServer;
let unsafe: string[];
let controversial: string[];

before(async () => {
  server = await startDemoServer();
  unsafe = server.runtime.demo!.streamUnsafeWords;
  controversial = server.runtime.demo!.streamControversialWords;
});

after(async () => {
  await server?.close();
});

interface Client {
  ws: WebSocket;
  frames: Json[];
  /** The next frame not read yet (of `type` when given, skipping others). */
  next(type?: string): Promise<Json>;
  send(message: unknown): void;
  closed: Promise<{ code: number; reason: string }>;
}

async function connect(key: string | null = "acme-key"): Promise<Client> {
  const ws = new WebSocket(`${server.base.replace("http", "ws")}/v1/guard/stream`, {
    headers: key ? { authorization: `Bearer ${key}` } : {},
  });
  const frames: Json[] = [];
  let read = 0;
  let wake: (() => void) | undefined;
  ws.on("message", (data) => {
    frames.push(JSON.parse(String(data)));
    wake?.();
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    ws.on("close", (code, reason) => {
      resolve({ code, reason: String(reason) });
      wake?.();
    }),
  );
  await new Promise<void>((resolve, reject) => {
    ws.once("open", () => resolve());
    ws.once("error", reject);
  });
  return {
    ws,
    frames,
    closed,
    send: (message) => ws.send(typeof message === "string" ? message : JSON.stringify(message)),
    async next(type) {
      for (;;) {
        while (read < frames.length) {
          const frame = frames[read++];
          if (type === undefined || frame.type === type) return frame;
        }
        if (ws.readyState === WebSocket.CLOSED)
          throw new Error(`closed while waiting for ${type ?? "a frame"}`);
        await new Promise<void>((resolve) => (wake = resolve));
      }
    },
  };
}

async function until(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test("text: prompt verdict, a frame per token, the trigger at the second unsafe word, the final decision", async () => {
  const c = await connect();
  c.send({ type: "open", messages: [{ role: "user", content: "Tell me a story" }] });
  const prompt = await c.next();
  assert.equal(prompt.type, "prompt", JSON.stringify(prompt));
  assert.equal(prompt.verdict.tier, "Safe");
  assert.equal(prompt.decision.action, "allow");
  assert.equal(prompt.mode, "strict", "the tenant policy's mode by default");
  // "There is a bomb grenade here": tokens There, ' is', ' a', ' bomb', ' grenade', ' here'
  for (const chunk of ["There is a", ` ${unsafe[0]}`, ` ${unsafe[1]} here`])
    c.send({ type: "text", text: chunk });
  c.send({ type: "end" });
  const trigger = await c.next("trigger");
  assert.equal(trigger.trigger.index, 4);
  assert.equal(trigger.trigger.text, ` ${unsafe[1]}`);
  assert.equal(trigger.trigger.tier, "Unsafe");
  assert.equal(trigger.decision.action, "block");
  const end = await c.next("end");
  assert.equal(end.verdict.tier, "Unsafe");
  assert.equal(end.verdict.index, 4);
  assert.equal(end.verdict.tokens, 6);
  assert.equal(end.decision.action, "block");
  assert.equal(end.reason, undefined);
  const tokens = c.frames.filter((f) => f.type === "token").map((f) => f.verdict);
  assert.deepEqual(
    tokens.map((t) => t.index),
    [0, 1, 2, 3, 4, 5],
  );
  assert.deepEqual(
    tokens.map((t) => t.tier),
    ["Safe", "Safe", "Safe", "Unsafe", "Unsafe", "Safe"],
  );
  // the trigger frame comes right after the token that fired it
  const order = c.frames.map((f) => f.type);
  assert.equal(order[order.indexOf("trigger") - 1], "token");
  assert.equal(c.frames[order.indexOf("trigger") - 1].verdict.index, 4);
  assert.deepEqual(await c.closed, { code: 1000, reason: "done" });
  await until(() => server.runtime.stream!.openSessions === 0, "the session to be freed");
});

test("token ids, loose mode: Controversial pairs do not stop, an Unsafe pair does", async () => {
  const tokenizer = loadBundledQwen3Tokenizer();
  const ids = tokenizer.encode(` ${controversial[0]} ${controversial[1]} ok ${unsafe[0]} ${unsafe[1]}`, {
    specials: false,
  });
  const c = await connect();
  c.send({ type: "open", messages: [{ role: "user", content: "Hi" }], mode: "loose", rule: "official" });
  assert.equal((await c.next("prompt")).mode, "loose");
  c.send({ type: "tokens", ids: ids.slice(0, 2) });
  c.send({ type: "tokens", ids: ids.slice(2) });
  const trigger = await c.next("trigger");
  assert.equal(trigger.trigger.tier, "Unsafe");
  assert.equal(trigger.trigger.index, 4);
  c.send({ type: "end" });
  const end = await c.next("end");
  assert.equal(end.verdict.tier, "Unsafe");
  await c.closed;
});

test("bad messages get error frames and leave the session usable", async () => {
  const c = await connect();
  c.send("{not json");
  assert.equal((await c.next("error")).code, "INVALID_JSON");
  c.send({ type: "shout" });
  const unknown = await c.next("error");
  assert.equal(unknown.code, "BAD_REQUEST");
  assert.equal(unknown.param, "type");
  c.send({ type: "text", text: "early" });
  assert.match((await c.next("error")).message, /send \{"type": "open"/);
  c.send({ type: "open", messages: [{ role: "robot", content: "x" }] });
  assert.equal((await c.next("error")).param, "messages[0].role");
  c.send({ type: "open", messages: [{ role: "assistant", content: "x" }] });
  const conversation = await c.next("error");
  assert.equal(conversation.code, "INVALID_CONVERSATION");
  c.send({ type: "open", messages: [{ role: "user", content: "Hello" }] });
  await c.next("prompt");
  c.send({ type: "open", messages: [{ role: "user", content: "again" }] });
  assert.match((await c.next("error")).message, /already open/);
  c.send({ type: "tokens", ids: [-1] });
  assert.equal((await c.next("error")).param, "ids[0]");
  c.send({ type: "text", text: "Fine" });
  c.send({ type: "tokens", ids: [1] });
  assert.equal((await c.next("error")).code, "STREAM_INPUT_INVALID", "ids after text");
  c.send({ type: "text", text: " words" });
  c.send({ type: "end", extra: 1 });
  assert.equal((await c.next("error")).param, "(body)");
  c.send({ type: "end" });
  const end = await c.next("end");
  assert.equal(end.verdict.tier, "Safe");
  assert.equal(end.verdict.tokens, 2);
  assert.equal((await c.closed).code, 1000);
});

test("the upgrade needs the API key like every /v1 route", async () => {
  for (const key of [null, "wrong-key"]) {
    await assert.rejects(connect(key), /Unexpected server response: 401/);
  }
});

test("a closed socket frees its session and its queue slot", async () => {
  await until(() => server.runtime.stream!.openSessions === 0, "earlier sessions to be freed");
  const c = await connect();
  c.send({ type: "open", messages: [{ role: "user", content: "Hello" }] });
  await c.next("prompt");
  c.send({ type: "text", text: "Some answer" });
  assert.equal(server.runtime.stream!.openSessions, 1);
  assert.equal(server.runtime.streams.size, 1);
  const metrics = await (await fetch(`${server.base}/metrics`)).text();
  assert.match(metrics, /qwen3guard_stream_sessions_open 1/);
  c.ws.terminate();
  await until(
    () =>
      server.runtime.stream!.openSessions === 0 &&
      server.runtime.queues.stream!.running === 0 &&
      server.runtime.streams.size === 0,
    "the session, the slot and the tracked stream to be freed",
  );
});

test("a full queue answers QUEUE_FULL and closes (1013); an idle session is closed; a huge message closes (1009)", async () => {
  await until(() => server.runtime.stream!.openSessions === 0, "earlier sessions to be freed");
  const queue = server.runtime.queues.stream! as GuardQueue & { options: { maxWaiting: number } };
  const saved = queue.options.maxWaiting;
  const held = [await connect(), await connect()];
  try {
    for (const c of held) {
      c.send({ type: "open", messages: [{ role: "user", content: "Hello" }] });
      await c.next("prompt");
    }
    queue.options.maxWaiting = 0;
    const third = await connect();
    third.send({ type: "open", messages: [{ role: "user", content: "Hello" }] });
    const error = await third.next("error");
    assert.equal(error.code, "QUEUE_FULL");
    assert.equal(error.retryAfter, 1);
    assert.equal((await third.closed).code, 1013);
  } finally {
    queue.options.maxWaiting = saved;
    for (const c of held) c.ws.close();
  }
  const limits = server.runtime.config.limits;
  const idleSeconds = limits.streamIdleSeconds;
  limits.streamIdleSeconds = 0.3;
  try {
    const idle = await connect();
    const error = await idle.next("error");
    assert.equal(error.code, "IDLE_TIMEOUT");
    assert.deepEqual(await idle.closed, { code: 1000, reason: "idle timeout" });
  } finally {
    limits.streamIdleSeconds = idleSeconds;
  }
  const big = await connect();
  big.send({ type: "text", text: "x".repeat(limits.bodyBytes + 10) });
  assert.equal((await big.closed).code, 1009);
  await until(() => server.runtime.streams.size === 0, "every session to be gone");
  assert.equal((await fetch(`${server.base}/healthz`)).status, 200, "the process is up");
});

test("draining (last: the server stops taking sessions): not ready, new sessions refused, open ones end with a final frame", async () => {
  await until(() => server.runtime.streams.size === 0, "earlier sessions to be gone");
  const c = await connect();
  c.send({ type: "open", messages: [{ role: "user", content: "Tell me a story" }] });
  await c.next("prompt");
  c.send({ type: "text", text: `There was a ${unsafe[0]}` });
  await c.next("token");
  const drained = server.runtime.drain(0.5);
  const ready = await fetch(`${server.base}/readyz`);
  assert.equal(ready.status, 503);
  assert.equal(((await ready.json()) as { status: string }).status, "draining");
  await assert.rejects(connect(), /Unexpected server response: 503/);
  const end = await c.next("end");
  assert.equal(end.reason, "shutdown");
  assert.equal(end.verdict.tokens, 4, "the held-back text was flushed into the final verdict");
  assert.deepEqual(await c.closed, { code: 1001, reason: "server shutting down" });
  await drained;
  assert.equal(server.runtime.stream!.openSessions, 0);
});
