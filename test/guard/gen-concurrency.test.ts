/**
 * GenGuard under concurrent load, on the hand-crafted Gen model (whose verdict depends on a trigger word, so a
 * request that saw another request's tokens would answer wrongly): concurrent calls on a 2-sequence guard
 * return exactly what sequential calls return, and an over-long conversation is refused with a typed error.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { ChatMessage } from "../../src/core/messages.js";
import type { Verdict } from "../../src/core/verdict.js";
import { ContextOverflowError } from "../../src/engine/gen/gen-engine.js";
import { GenGuard, type GenMode } from "../../src/guard/gen-guard.js";
import { genGuardInternals } from "../../src/guard/internals.js";
import { writeCraftedGenModel, type CraftedGenTrigger } from "../../src/model/synth/index.js";

const CONTEXT = 1024;

const ENGINES = ["llama-ffi", "node-llama-cpp"] as const;

let dir: string;
const guards = new Map<(typeof ENGINES)[number], GenGuard>();
let trigger: CraftedGenTrigger;

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "gen-concurrency-"));
  const model = writeCraftedGenModel(path.join(dir, "model"));
  trigger = model.trigger;
  for (const engine of ENGINES) {
    const guard = await GenGuard.load({
      model: model.dir,
      quantization: "f32",
      cacheDir: path.join(dir, "cache"),
      gpu: "cpu",
      flashAttention: "off",
      kvCache: "f32",
      contextSize: CONTEXT,
      sequences: 2,
      engine,
    });
    assert.equal(guard.info.engine, engine);
    guards.set(engine, guard);
  }
});

after(async () => {
  for (const guard of guards.values()) await guard.close();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

interface Case {
  messages: ChatMessage[];
  mode: GenMode;
  expected: "benign" | "triggered";
}

function cases(): Case[] {
  const w = trigger.word;
  const list: Case[] = [];
  const texts: [string, boolean][] = [
    ["What's a good recipe for pancakes?", false],
    [`Is a ${w} dangerous to keep at home?`, true],
    ["Tell me about Rome.", false],
    [`My uncle said a ${w} is in the shed. What now?`, true],
    ["How do magnets work?", false],
  ];
  for (const mode of ["fast", "reference"] as const) {
    for (const [text, triggered] of texts) {
      list.push({
        messages: [{ role: "user", content: text }],
        mode,
        expected: triggered ? "triggered" : "benign",
      });
    }
    list.push({
      messages: [
        { role: "user", content: `Draw a ${w} for me.` },
        { role: "assistant", content: "Here is a drawing." },
        { role: "user", content: "Thanks, and now a cat?" },
      ],
      mode,
      expected: "triggered",
    });
  }
  return list;
}

function summary(v: Verdict) {
  return { tier: v.tier, categories: v.categories, raw: v.raw, probabilities: v.probabilities };
}

for (const engine of ENGINES) {
  test(`${engine}: concurrent moderate calls on a 2-sequence guard return the same verdicts as sequential calls`, async (t) => {
    const guard = guards.get(engine)!;
    const all = cases();
    const sequential: Verdict[] = [];
    for (const c of all) sequential.push(await guard.moderate(c.messages, { mode: c.mode }));
    // Sanity: the sequential answers are the expected ones, so a mix-up between requests would show.
    sequential.forEach((v, i) => {
      assert.equal(v.raw, trigger[all[i]!.expected].raw, `sequential #${i} (${all[i]!.mode})`);
    });

    const inFlight = { now: 0, max: 0 };
    const internal = genGuardInternals(guard).engine;
    const original = internal.withSequence.bind(internal);
    internal.withSequence = (ids, work, options) =>
      original(
        ids,
        async (tail, lease) => {
          inFlight.max = Math.max(inFlight.max, ++inFlight.now);
          try {
            return await work(tail, lease);
          } finally {
            inFlight.now--;
          }
        },
        options,
      );
    let concurrent: Verdict[];
    try {
      // Twice over, shuffled, so requests of both modes and both verdicts overlap on the two sequences.
      const order = [...all.keys(), ...[...all.keys()].reverse()];
      const results = await Promise.all(
        order.map((i) => guard.moderate(all[i]!.messages, { mode: all[i]!.mode })),
      );
      concurrent = results.slice(0, all.length);
      results.slice(all.length).forEach((v, k) => {
        const i = order[all.length + k]!;
        assert.deepEqual(summary(v), summary(sequential[i]!), `second wave, case #${i}`);
      });
    } finally {
      internal.withSequence = original;
    }
    t.diagnostic(`${all.length * 2} concurrent requests, at most ${inFlight.max} on sequences at once`);
    assert.equal(inFlight.max, 2, "both sequences were used at once, never more");
    concurrent.forEach((v, i) => {
      assert.deepEqual(summary(v), summary(sequential[i]!), `case #${i} (${all[i]!.mode})`);
    });
    assert.ok(concurrent.some((v) => (v.timings?.queuedMs ?? 0) > 0));
  });
}

test("a conversation longer than the context is refused with ContextOverflowError, and the guard goes on", async () => {
  const guard = guards.get("llama-ffi")!;
  const long = Array.from({ length: 400 }, (_, i) => `sentence number ${i} is here.`).join(" ");
  const tokens = guard.tokenize([{ role: "user", content: long }]).ids.length;
  assert.ok(tokens > CONTEXT, `the conversation is ${tokens} tokens`);
  for (const mode of ["fast", "reference"] as const) {
    await assert.rejects(guard.moderatePrompt(long, { mode }), (error: unknown) => {
      assert.ok(error instanceof ContextOverflowError, String(error));
      assert.match(error.message, new RegExp(`renders to ${tokens} tokens`));
      assert.match(error.message, new RegExp(`${guard.info.contextSize}-token context`));
      assert.match(error.message, /context size/);
      return true;
    });
  }
  const after = await guard.moderatePrompt(`A ${trigger.word}?`);
  assert.equal(after.raw, trigger.triggered.raw);
});
