/**
 * Stream sessions: independence under concurrency, capacity (wait / throw / abort), typed errors after close, end
 * and failure, and that closing frees the sequence for a new session with a clean KV cache.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { synthesizeModel } from "../../src/model/synth/index.js";
import { InvalidConversationError } from "../../src/core/messages.js";
import type { StreamGuard } from "../../src/guard/stream-guard.js";
import { streamGuardInternals, streamSessionInternals } from "../../src/guard/internals.js";
import {
  StreamCapacityError,
  StreamContextFullError,
  StreamGuardClosedError,
  StreamInputError,
  StreamSessionClosedError,
} from "../../src/guard/stream-errors.js";
import type { StreamTokenVerdict } from "../../src/guard/stream-types.js";
import { loadGuard, maxDiff, tempDir } from "./stream-fixture.js";

let tmp: ReturnType<typeof tempDir>;
let guard: StreamGuard;

const CASES = [
  { user: "What is the capital of France?", answer: "The capital of France is Paris, on the Seine." },
  {
    user: "Write a haiku about rain.",
    answer: "Soft rain on the roof / the garden drinks in silence / puddles hold the sky",
  },
  { user: "How many legs does a spider have?", answer: "Spiders have eight legs; insects have six." },
];

before(async () => {
  tmp = tempDir("stream-sessions-");
  synthesizeModel({ kind: "stream", shape: "tiny", outDir: tmp.dir, dtype: "f32", seed: 9 });
  guard = await loadGuard(tmp.dir, { sequences: 3 });
});

after(async () => {
  await guard?.close();
  tmp?.cleanup();
});

function ids(text: string): number[] {
  return streamGuardInternals(guard).tokenizer.encode(text, { specials: false });
}

async function sequential(
  c: (typeof CASES)[number],
): Promise<{ prompt: number; tokens: StreamTokenVerdict[] }> {
  const session = await guard.openStream([{ role: "user", content: c.user }]);
  try {
    const tokens = await session.pushTokens(ids(c.answer));
    return { prompt: session.prompt.probabilities.Unsafe, tokens };
  } finally {
    await session.close();
  }
}

function sameVerdicts(a: StreamTokenVerdict[], b: StreamTokenVerdict[], label: string): void {
  assert.deepEqual(
    a.map((v) => v.token),
    b.map((v) => v.token),
  );
  a.forEach((v, i) => {
    const w = b[i]!;
    const pa = [v.probabilities.Safe, v.probabilities.Unsafe, v.probabilities.Controversial];
    const pb = [w.probabilities.Safe, w.probabilities.Unsafe, w.probabilities.Controversial];
    assert.ok(maxDiff(pa, pb) < 1e-5, `${label} token ${i}: ${pa} vs ${pb}`);
    assert.equal(v.tier, w.tier);
    assert.equal(v.category, w.category);
  });
}

test("concurrent sessions give the same verdicts as sequential ones, and share decodes", async () => {
  const alone: Awaited<ReturnType<typeof sequential>>[] = [];
  for (const c of CASES) alone.push(await sequential(c));
  const sessions = await Promise.all(CASES.map((c) => guard.openStream([{ role: "user", content: c.user }])));
  try {
    const before = { ...guard.stats };
    const results = await Promise.all(
      sessions.map(async (s, k) => {
        const answer = ids(CASES[k]!.answer);
        const out: StreamTokenVerdict[] = [];
        // interleave: every session pushes two tokens at a time, all at once
        for (let i = 0; i < answer.length; i += 2) out.push(...(await s.pushTokens(answer.slice(i, i + 2))));
        return out;
      }),
    );
    results.forEach((r, k) => {
      sameVerdicts(r, alone[k]!.tokens, `session ${k}`);
      assert.ok(Math.abs(sessions[k]!.prompt.probabilities.Unsafe - alone[k]!.prompt) < 1e-5);
    });
    const tokens = guard.stats.tokens - before.tokens;
    const decodes = guard.stats.decodes - before.decodes;
    assert.ok(decodes < tokens / 2, `${tokens} tokens from 3 sessions in ${decodes} decodes`);
    assert.ok(guard.stats.maxSequencesPerDecode > 1);
  } finally {
    await Promise.all(sessions.map((s) => s.close()));
  }
});

test("when every session is open: whenFull 'throw' throws, 'wait' waits for a close, an abort stops the wait", async () => {
  const user = [{ role: "user" as const, content: "hi" }];
  const open = await Promise.all([0, 1, 2].map(() => guard.openStream(user)));
  assert.equal(guard.openSessions, 3);
  await assert.rejects(guard.openStream(user, { whenFull: "throw" }), StreamCapacityError);
  const controller = new AbortController();
  const aborted = guard.openStream(user, { signal: controller.signal });
  controller.abort();
  await assert.rejects(aborted, StreamCapacityError);
  let opened = false;
  const waiting = guard.openStream(user).then((s) => {
    opened = true;
    return s;
  });
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(opened, false, "the fourth session waits");
  await open[1]!.close();
  const fourth = await waiting;
  assert.equal(
    streamSessionInternals(fourth).sequence,
    streamSessionInternals(open[1]!).sequence,
    "it got the freed sequence",
  );
  await Promise.all([open[0]!, open[2]!, fourth].map((s) => s.close()));
  assert.equal(guard.openSessions, 0);
});

test("a closed or ended session refuses input with StreamSessionClosedError", async () => {
  const s = await guard.openStream([{ role: "user", content: "hello" }]);
  await s.pushTokens(ids(" hi"));
  await s.end();
  assert.equal(s.state, "ended");
  await assert.rejects(
    s.pushTokens(ids(" more")),
    (e) => e instanceof StreamSessionClosedError && e.state === "ended",
  );
  await s.close();
  await s.close(); // idempotent
  assert.equal(s.state, "closed");
  await assert.rejects(s.push("text"), (e) => e instanceof StreamSessionClosedError && e.state === "closed");
  await assert.rejects(s.end(), StreamSessionClosedError);
});

test("a failed decode fails the session (typed error, cause kept); closing it frees a clean sequence", async () => {
  const c = CASES[0]!;
  const expected = await sequential(c);
  const s = await guard.openStream([{ role: "user", content: c.user }]);
  const engine = streamGuardInternals(guard).engine;
  const original = engine.decode.bind(engine);
  engine.decode = () => Promise.reject(new Error("injected decode failure"));
  try {
    await assert.rejects(
      s.pushTokens(ids(c.answer)),
      (e) =>
        e instanceof StreamSessionClosedError &&
        e.state === "failed" &&
        /injected/.test(String((e.cause as Error).message)),
    );
  } finally {
    engine.decode = original;
  }
  assert.equal(s.state, "failed");
  await assert.rejects(
    s.pushTokens(ids(" again")),
    (e) => e instanceof StreamSessionClosedError && e.state === "failed",
  );
  await s.close();
  const again = await sequential(c);
  sameVerdicts(again.tokens, expected.tokens, "after failure");
});

test("bad input: out-of-vocabulary ids, mixing ids and text, a too-long answer, an answer in openStream", async () => {
  const s = await guard.openStream([{ role: "user", content: "hello" }]);
  try {
    await assert.rejects(
      s.pushTokens([streamGuardInternals(guard).assets.config.vocabSize]),
      StreamInputError,
    );
    await assert.rejects(s.pushTokens([1.5]), StreamInputError);
    await s.pushTokens([100, 200]);
    await assert.rejects(s.push("text"), StreamInputError);
    await assert.rejects(s.pushTokens(new Array<number>(600).fill(100)), StreamContextFullError);
    assert.equal(s.state, "open", "a refused token push leaves the session usable");
    assert.equal((await s.pushTokens([300])).length, 1);
  } finally {
    await s.close();
  }
  await assert.rejects(
    guard.openStream([
      { role: "user", content: "q" },
      { role: "assistant", content: "a" },
    ]),
    InvalidConversationError,
  );
});

test("closing the guard while a session's prompt is being decoded: openStream throws, no session outlives the guard", async () => {
  const other = await loadGuard(tmp.dir, { sequences: 1 });
  const engine = streamGuardInternals(other).engine;
  const original = engine.decode.bind(engine);
  let closing: Promise<void> | undefined;
  engine.decode = (items) => {
    closing ??= other.close(); // close() runs while the prompt's decode is in flight
    return original(items);
  };
  await assert.rejects(other.openStream([{ role: "user", content: "hello" }]), StreamGuardClosedError);
  await closing;
  assert.equal(other.openSessions, 0);
});

/** UTF-8 bytes of `text` cut into pieces of 1..5 bytes (splitting multi-byte characters). */
function byteChunks(text: string, seed: number): Uint8Array[] {
  const bytes = new TextEncoder().encode(text);
  const out: Uint8Array[] = [];
  let s = seed;
  for (let i = 0; i < bytes.length;) {
    s = (s * 1103515245 + 12345) >>> 0;
    const n = 1 + ((s >>> 16) % 5);
    out.push(bytes.subarray(i, i + n));
    i += n;
  }
  return out;
}

test("push(Uint8Array) is UTF-8 text (split characters joined), the same tokens and verdicts as the string", async () => {
  const text = "Grüße aus Köln — 你好, 👩‍🍳 bakes bread at 220°C.";
  const expectedIds = ids(text);
  const asString = await guard.openStream([{ role: "user", content: "hi" }]);
  const fromString = [...(await asString.push(text)), ...(await asString.end()).tokens];
  await asString.close();
  assert.deepEqual(
    fromString.map((v) => v.token),
    expectedIds,
  );
  for (const seed of [1, 2, 3]) {
    const s = await guard.openStream([{ role: "user", content: "hi" }]);
    try {
      const verdicts: StreamTokenVerdict[] = [];
      const chunks = byteChunks(text, seed);
      // a Buffer is a Uint8Array too (what stdin gives)
      for (const [k, chunk] of chunks.entries())
        verdicts.push(...(await s.push(k % 2 === 0 ? chunk : Buffer.from(chunk))));
      verdicts.push(...(await s.end()).tokens);
      sameVerdicts(verdicts, fromString, `bytes, seed ${seed}`);
      assert.equal(verdicts.map((v) => v.text).join(""), text);
    } finally {
      await s.close();
    }
  }
  // bytes and strings are both text and can be mixed; a string ends an incomplete UTF-8 sequence (U+FFFD)
  const mixed = await guard.openStream([{ role: "user", content: "hi" }]);
  try {
    const bytes = new TextEncoder().encode("Grüße");
    const verdicts = [...(await mixed.push(bytes.subarray(0, 5))), ...(await mixed.push(" aus Köln"))];
    verdicts.push(...(await mixed.end()).tokens);
    assert.equal(verdicts.map((v) => v.text).join(""), "Grü\uFFFD aus Köln");
  } finally {
    await mixed.close();
  }
});

test("push() refuses anything but text, pushTokens() anything but token ids, with StreamInputError saying what to use", async () => {
  const s = await guard.openStream([{ role: "user", content: "hello" }]);
  try {
    const push = s.push.bind(s) as (input: unknown) => Promise<unknown>;
    const pushTokens = s.pushTokens.bind(s) as (input: unknown) => Promise<unknown>;
    const refused = async (p: Promise<unknown>, message: RegExp) =>
      assert.rejects(p, (e: unknown) => {
        assert.ok(e instanceof StreamInputError, String(e));
        assert.equal(e.code, "STREAM_INPUT_INVALID");
        assert.match(e.message, message);
        return true;
      });
    await refused(push([100, 200]), /use pushTokens\(ids\)/);
    await refused(push(Int32Array.of(100)), /use pushTokens\(ids\)/);
    await refused(push(new ArrayBuffer(4)), /new Uint8Array\(buffer\)/);
    for (const bad of [42, null, undefined, { text: "x" }, true]) {
      await refused(push(bad), /push\(\) takes answer text/);
    }
    await refused(pushTokens("some text"), /use push\(\)/);
    await refused(pushTokens(new TextEncoder().encode("bytes")), /use push\(\)/);
    await refused(pushTokens(Float32Array.of(1)), /pushTokens\(\) takes token ids/);
    await refused(pushTokens(7), /pushTokens\(\) takes token ids/);
    await refused(pushTokens([1, "2"]), /element 1 is a string/);
    await refused(pushTokens([1.5]), /not a token id/);
    await refused(pushTokens([NaN]), /not a token id/);
    await refused(pushTokens([-1]), /outside the vocabulary/);
    assert.equal(s.state, "open", "refused input leaves the session usable");
    assert.equal(s.tokenCount, 0, "nothing was taken");
    // typed arrays of ids are token ids; the array is copied (the caller may reuse it)
    const answer = ids(CASES[0]!.answer);
    const reused = Int32Array.from(answer.slice(0, 4));
    const pending = s.pushTokens(reused);
    reused.fill(0);
    const first = await pending;
    assert.deepEqual(
      first.map((v) => v.token),
      answer.slice(0, 4),
    );
    const list = answer.slice(4);
    const second = s.pushTokens(Uint32Array.from(list));
    list.fill(0);
    assert.deepEqual(
      (await second).map((v) => v.token),
      answer.slice(4),
    );
    // a session fed ids takes no bytes either
    await refused(s.push(new TextEncoder().encode(" more")), /either token ids or text/);
  } finally {
    await s.close();
  }
});
