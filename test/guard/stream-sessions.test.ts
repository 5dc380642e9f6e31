/**
 * Stream sessions: independence under concurrency, capacity (wait / throw / abort), typed errors after close, end
 * and failure, and that closing frees the sequence for a new session with a clean KV cache.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { synthesizeModel } from "../../src/model/synth/index.js";
import { InvalidConversationError } from "../../src/core/messages.js";
import type { StreamGuard } from "../../src/guard/stream-guard.js";
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
  return guard.assets.tokenizer.encode(text, { specials: false });
}

async function sequential(
  c: (typeof CASES)[number],
): Promise<{ prompt: number; tokens: StreamTokenVerdict[] }> {
  const session = await guard.openStream([{ role: "user", content: c.user }]);
  try {
    const tokens = await session.push(ids(c.answer));
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
    const before = { ...guard.coalescer.stats };
    const results = await Promise.all(
      sessions.map(async (s, k) => {
        const answer = ids(CASES[k]!.answer);
        const out: StreamTokenVerdict[] = [];
        // interleave: every session pushes two tokens at a time, all at once
        for (let i = 0; i < answer.length; i += 2) out.push(...(await s.push(answer.slice(i, i + 2))));
        return out;
      }),
    );
    results.forEach((r, k) => {
      sameVerdicts(r, alone[k]!.tokens, `session ${k}`);
      assert.ok(Math.abs(sessions[k]!.prompt.probabilities.Unsafe - alone[k]!.prompt) < 1e-5);
    });
    const tokens = guard.coalescer.stats.tokens - before.tokens;
    const decodes = guard.coalescer.stats.decodes - before.decodes;
    assert.ok(decodes < tokens / 2, `${tokens} tokens from 3 sessions in ${decodes} decodes`);
    assert.ok(guard.coalescer.stats.maxSequencesPerDecode > 1);
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
  assert.equal(fourth.sequence, open[1]!.sequence, "it got the freed sequence");
  await Promise.all([open[0]!, open[2]!, fourth].map((s) => s.close()));
  assert.equal(guard.openSessions, 0);
});

test("a closed or ended session refuses input with StreamSessionClosedError", async () => {
  const s = await guard.openStream([{ role: "user", content: "hello" }]);
  await s.push(ids(" hi"));
  await s.end();
  assert.equal(s.state, "ended");
  await assert.rejects(
    s.push(ids(" more")),
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
  const engine = guard.engine;
  const original = engine.decode.bind(engine);
  engine.decode = () => Promise.reject(new Error("injected decode failure"));
  try {
    await assert.rejects(
      s.push(ids(c.answer)),
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
    s.push(ids(" again")),
    (e) => e instanceof StreamSessionClosedError && e.state === "failed",
  );
  await s.close();
  const again = await sequential(c);
  sameVerdicts(again.tokens, expected.tokens, "after failure");
});

test("bad input: out-of-vocabulary ids, mixing ids and text, a too-long answer, an answer in openStream", async () => {
  const s = await guard.openStream([{ role: "user", content: "hello" }]);
  try {
    await assert.rejects(s.push([guard.assets.config.vocabSize]), StreamInputError);
    await assert.rejects(s.push([1.5]), StreamInputError);
    await s.push([100, 200]);
    await assert.rejects(s.push("text"), StreamInputError);
    await assert.rejects(s.push(new Array<number>(600).fill(100)), StreamContextFullError);
    assert.equal(s.state, "open", "a refused token push leaves the session usable");
    assert.equal((await s.push([300])).length, 1);
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
  const engine = other.engine;
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
