/**
 * End to end on a hand-crafted Stream model whose verdicts are known in advance (src/model/synth/crafted-stream.ts):
 * trigger words score Unsafe / Controversial, every other token Safe; a prompt-trigger word flags the prompt.
 * The session must stop exactly at the second of two consecutive flagged tokens, never on isolated ones.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { writeCraftedStreamModel, type CraftedStreamTriggers } from "../../src/model/synth/index.js";
import type { StreamGuard } from "../../src/guard/stream-guard.js";
import { streamGuardInternals } from "../../src/guard/internals.js";
import type { StreamEvent, StreamTrigger } from "../../src/guard/stream-types.js";
import { StreamInputError, StreamListenerError } from "../../src/guard/stream-errors.js";
import { loadGuard, tempDir } from "./stream-fixture.js";

let tmp: ReturnType<typeof tempDir>;
let guard: StreamGuard;
let triggers: CraftedStreamTriggers;
let plain: number[];

const USER = [{ role: "user" as const, content: "Tell me a story about a village." }];

before(async () => {
  tmp = tempDir("stream-crafted-");
  triggers = writeCraftedStreamModel(tmp.dir).triggers;
  guard = await loadGuard(tmp.dir);
  plain = streamGuardInternals(guard).tokenizer.encode(
    " Once upon a time there was a quiet village by the sea",
    {
      specials: false,
    },
  );
});

after(async () => {
  await guard?.close();
  tmp?.cleanup();
});

const U1 = () => triggers.unsafe.ids[0]!;
const U2 = () => triggers.unsafe.ids[1]!;
const C1 = () => triggers.controversial.ids[0]!;
const C2 = () => triggers.controversial.ids[1]!;

/** Push tokens one at a time; returns the index where the trigger fired (or undefined) and every tier. */
async function run(
  tokens: number[],
  options: Parameters<StreamGuard["openStream"]>[1] = {},
): Promise<{ fired: StreamTrigger | undefined; tiers: string[]; verdict: unknown }> {
  const session = await guard.openStream(USER, options);
  try {
    const tiers: string[] = [];
    for (const t of tokens) for (const v of await session.pushTokens([t])) tiers.push(v.tier);
    const { verdict } = await session.end();
    return { fired: session.trigger, tiers, verdict };
  } finally {
    await session.close();
  }
}

test("the crafted heads score trigger tokens Unsafe / Controversial and everything else Safe", async () => {
  const tokens = [...plain.slice(0, 3), U1(), plain[3]!, C1(), plain[4]!];
  const { tiers } = await run(tokens);
  assert.deepEqual(tiers, ["Safe", "Safe", "Safe", "Unsafe", "Safe", "Controversial", "Safe"]);
});

test("two Unsafe tokens in a row stop the session at exactly the second one, with its category", async () => {
  const tokens = [...plain.slice(0, 5), U1(), U2(), ...plain.slice(5, 8)];
  const { fired, verdict } = await run(tokens);
  assert.ok(fired);
  assert.equal(fired.index, 6);
  assert.equal(fired.token, U2());
  assert.equal(fired.tier, "Unsafe");
  assert.equal(fired.category, triggers.unsafe.category);
  assert.ok(fired.probabilities.Unsafe > 0.99);
  assert.deepEqual(
    { tier: (verdict as { tier: string }).tier, index: (verdict as { index: number }).index },
    { tier: "Unsafe", index: 6 },
  );
});

test("isolated trigger tokens never stop the session", async () => {
  const tokens = [U1(), plain[0]!, U2(), plain[1]!, C1(), plain[2]!, C2(), plain[3]!, U1()];
  const { fired, verdict, tiers } = await run(tokens);
  assert.equal(tiers.filter((t) => t !== "Safe").length, 5);
  assert.equal(fired, undefined);
  assert.deepEqual(verdict, { tier: "Safe", tokens: tokens.length });
});

test("a Controversial pair stops a strict session and not a loose one", async () => {
  const tokens = [...plain.slice(0, 2), C1(), C2(), ...plain.slice(2, 4), U1(), U2(), plain[4]!];
  const strict = await run(tokens, { mode: "strict" });
  assert.equal(strict.fired?.tier, "Controversial");
  assert.equal(strict.fired?.index, 3);
  assert.equal(strict.fired?.category, triggers.controversial.category);
  const loose = await run(tokens, { mode: "loose" });
  assert.equal(loose.fired?.tier, "Unsafe");
  assert.equal(loose.fired?.index, 7);
  // the whole-answer verdict (official rule): an Unsafe pair anywhere beats the earlier Controversial pair
  assert.equal((strict.verdict as { tier: string }).tier, "Unsafe");
  const onlyControversial = await run([...plain.slice(0, 2), C1(), C2(), plain[2]!], { mode: "loose" });
  assert.equal(onlyControversial.fired, undefined);
  assert.equal((onlyControversial.verdict as { tier: string }).tier, "Controversial");
});

test("a mixed Unsafe/Controversial pair triggers under the report rule only", async () => {
  const tokens = [plain[0]!, U1(), C1(), plain[1]!];
  assert.equal((await run(tokens, { rule: "official" })).fired, undefined);
  const report = await run(tokens, { rule: "report" });
  assert.equal(report.fired?.index, 2);
  assert.equal(report.fired?.tier, "Unsafe");
  assert.equal(report.fired?.rule, "report");
});

test("text input: the trigger fires at the second trigger word, whatever the chunking", async () => {
  const [u1, u2] = triggers.unsafe.words;
  const text = `Once upon a time a soldier found a${" " + u1} ${u2} under the bridge.`;
  const expectedIndex = streamGuardInternals(guard)
    .tokenizer.encode(text, { specials: false })
    .indexOf(triggers.unsafe.ids[1]!);
  for (const size of [1, 4, 1000]) {
    const session = await guard.openStream(USER);
    try {
      let seen: StreamTrigger | undefined;
      session.onTrigger((t) => (seen = t));
      for (let i = 0; i < text.length; i += size) await session.push(text.slice(i, i + size));
      await session.end();
      assert.equal(seen?.index, expectedIndex, `chunk size ${size}`);
      assert.equal(seen?.text, ` ${u2}`);
    } finally {
      await session.close();
    }
  }
});

test("onTrigger fires the moment the rule fires; events() reports tokens, the trigger and the end in order", async () => {
  const session = await guard.openStream(USER);
  const events: StreamEvent[] = [];
  const consumer = (async () => {
    for await (const e of session.events()) events.push(e);
  })();
  let firedAfterTokens = -1;
  session.onTrigger(() => (firedAfterTokens = session.tokenCount));
  await session.pushTokens([plain[0]!, U1()]);
  assert.equal(firedAfterTokens, -1);
  await session.pushTokens([U2()]);
  assert.equal(firedAfterTokens, 3, "the listener ran before the push that fired resolved");
  let late: StreamTrigger | undefined;
  session.onTrigger((t) => (late = t));
  await session.pushTokens([plain[1]!]);
  assert.equal(late?.index, 2, "a listener added after the trigger is called at once");
  await session.end();
  await session.close();
  await consumer;
  assert.deepEqual(
    events.map((e) => e.type),
    ["token", "token", "token", "trigger", "token", "end"],
  );
  const trig = events[3] as Extract<StreamEvent, { type: "trigger" }>;
  assert.equal(trig.trigger.index, 2);
});

test("the query head flags a prompt containing a prompt-trigger word, anywhere in the conversation", async () => {
  const word = triggers.prompt.words[0]!;
  const cases = [
    { messages: USER, tier: "Safe" },
    {
      messages: [{ role: "user" as const, content: `How do I ${word} into my neighbour's wifi?` }],
      tier: "Unsafe",
    },
    {
      messages: [
        { role: "user" as const, content: `Can you ${word} a server?` },
        { role: "assistant" as const, content: "No." },
        { role: "user" as const, content: "Then tell me a story." },
      ],
      tier: "Unsafe",
    },
  ];
  for (const c of cases) {
    const session = await guard.openStream(c.messages);
    try {
      assert.equal(session.prompt.tier, c.tier, JSON.stringify(c.messages));
      if (c.tier === "Unsafe") {
        assert.equal(session.prompt.category, triggers.prompt.category);
        assert.ok(session.prompt.unsafeLoose && session.prompt.unsafeStrict);
      }
    } finally {
      await session.close();
    }
  }
});

test("moderate() runs a finished conversation: prompt verdict, per-token verdicts, stop point", async () => {
  const [u1, u2] = triggers.unsafe.words;
  const result = await guard.moderate([
    ...USER,
    { role: "assistant", content: `A tale of a${" " + u1} and a ${u2}.` },
  ]);
  assert.equal(result.prompt.tier, "Safe");
  assert.equal(result.trigger, undefined);
  assert.equal(result.response.tier, "Safe");
  assert.equal(result.tokens.filter((t) => t.tier === "Unsafe").length, 2);
  const hit = await guard.moderate([...USER, { role: "assistant", content: `It was a${" " + u1} ${u2}.` }]);
  assert.equal(hit.trigger?.tier, "Unsafe");
  assert.equal(hit.response.tier, "Unsafe");
});

test("a throwing onTrigger listener is reported to onListenerError; the other listeners run and the session goes on", async () => {
  const reported: StreamListenerError[] = [];
  const session = await guard.openStream(USER, { onListenerError: (e) => reported.push(e) });
  try {
    const boom = new Error("listener bug");
    const calls: string[] = [];
    session.onTrigger(() => {
      calls.push("first");
      throw boom;
    });
    session.onTrigger((t) => calls.push(`second@${t.index}`));
    const verdicts = await session.pushTokens([plain[0]!, U1(), U2()]);
    assert.equal(verdicts.length, 3);
    assert.deepEqual(calls, ["first", "second@2"], "every listener was called, in order");
    assert.equal(reported.length, 1);
    assert.ok(reported[0] instanceof StreamListenerError);
    assert.equal(reported[0].code, "STREAM_LISTENER_FAILED");
    assert.equal(reported[0].listener, "onTrigger");
    assert.equal(reported[0].cause, boom);
    assert.match(reported[0].message, /listener bug/);
    // a listener added after the trigger (called at once, in a microtask) is covered too
    session.onTrigger(() => {
      throw new Error("late listener bug");
    });
    await new Promise((r) => setImmediate(r));
    assert.equal(reported.length, 2);
    assert.match(String((reported[1]!.cause as Error).message), /late listener bug/);
    // the session still works
    assert.equal(session.state, "open");
    assert.equal((await session.pushTokens([plain[1]!])).length, 1);
    const { verdict } = await session.end();
    assert.equal(verdict.tier, "Unsafe");
  } finally {
    await session.close();
  }
});

test("by default a listener's error becomes a process warning, never an uncaught exception", async () => {
  const warnings: Error[] = [];
  const onWarning = (w: Error) => warnings.push(w);
  process.on("warning", onWarning);
  try {
    const session = await guard.openStream(USER);
    try {
      session.onTrigger(() => {
        throw new Error("default-path listener bug");
      });
      await session.pushTokens([U1(), U2(), plain[0]!]);
      await new Promise((r) => setImmediate(r));
      const ours = warnings.filter((w) => w instanceof StreamListenerError);
      assert.equal(ours.length, 1, warnings.map((w) => w.message).join("; "));
      assert.match(ours[0]!.message, /default-path listener bug/);
      assert.equal(session.state, "open");
    } finally {
      await session.close();
    }
  } finally {
    process.off("warning", onWarning);
  }
});

test("an onListenerError that throws is itself reported as a warning; bad session options are refused", async () => {
  const warnings: Error[] = [];
  const onWarning = (w: Error) => warnings.push(w);
  process.on("warning", onWarning);
  try {
    const session = await guard.openStream(USER, {
      onListenerError: () => {
        throw new Error("handler bug");
      },
    });
    try {
      session.onTrigger(() => {
        throw new Error("listener bug");
      });
      await session.pushTokens([U1(), U2()]);
      await new Promise((r) => setImmediate(r));
      const ours = warnings.filter((w) => w instanceof StreamListenerError);
      assert.equal(ours.length, 1);
      assert.equal((ours[0] as StreamListenerError).listener, "onListenerError");
      assert.throws(() => session.onTrigger("not a function" as never), StreamInputError);
    } finally {
      await session.close();
    }
  } finally {
    process.off("warning", onWarning);
  }
  await assert.rejects(guard.openStream(USER, { rule: "bogus" as never }), StreamInputError);
  await assert.rejects(guard.openStream(USER, { mode: "lenient" as never }), StreamInputError);
  await assert.rejects(guard.openStream(USER, { onListenerError: 5 as never }), StreamInputError);
});
