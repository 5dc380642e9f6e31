/**
 * Concurrent GenGuard requests share the template heads (copied between sequences of one KV cache) and their
 * decodes (merged into multi-sequence decodes). Neither may change a verdict: on the hand-crafted model and on a
 * seeded random one (F32 weights and KV cache), prompt and response moderation, fast and reference modes, every
 * request started concurrently — in many seeded orders, with seeded delays, under each combination of sharing and
 * merging — gets the tier, categories, refusal and raw output a one-by-one run without either gives, and tier
 * probabilities within 1e-5 (reference-mode failures to parse a random model's output must match too).
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { ChatMessage } from "../../src/core/messages.js";
import type { Verdict } from "../../src/core/verdict.js";
import { FfiGenEngine } from "../../src/engine/gen/ffi-gen-engine.js";
import { GenGuard, type GenMode } from "../../src/guard/gen-guard.js";
import { genGuardInternals } from "../../src/guard/internals.js";
import { synthesizeModel, writeCraftedGenModel } from "../../src/model/synth/index.js";
import { seededRandom } from "../helpers/seeded-random.js";

const TOLERANCE = 1e-5;
const ROUNDS = 5;

interface Case {
  messages: ChatMessage[];
  mode: GenMode;
}

interface Model {
  dir: string;
  cases: Case[];
  /** One by one, one sequence, neither sharing nor merging. */
  expected: Outcome[];
  guard: GenGuard;
  engine: FfiGenEngine;
}

type Outcome =
  | {
      tier: string;
      categories: string[];
      refusal?: string;
      raw: string;
      probabilities?: Verdict["probabilities"];
    }
  | { error: string };

let dir: string;
const models = new Map<string, Model>();

function cases(word: string, withReference: boolean): Case[] {
  const texts = [
    "What's a good recipe for pancakes?",
    `Is a ${word} dangerous to keep at home?`,
    "Tell me about Rome, in three sentences.",
    "How do magnets work?",
  ];
  const answers = [
    "Here you go: flour, eggs, milk.",
    `Sure, a ${word} is easy to find.`,
    "I can't help with that.",
  ];
  const list: Case[] = [];
  for (const mode of withReference ? (["fast", "reference"] as const) : (["fast"] as const)) {
    for (const t of texts) list.push({ messages: [{ role: "user", content: t }], mode });
    for (const [i, a] of answers.entries()) {
      list.push({
        messages: [
          { role: "user", content: texts[i]! },
          { role: "assistant", content: a },
        ],
        mode,
      });
    }
    list.push({
      messages: [
        { role: "user", content: `Draw a ${word} for me.` },
        { role: "assistant", content: "Here is a drawing." },
        { role: "user", content: "Thanks, and now a cat?" },
      ],
      mode,
    });
  }
  return list;
}

async function outcome(guard: GenGuard, c: Case): Promise<Outcome> {
  try {
    const v = await guard.moderate(c.messages, { mode: c.mode });
    return {
      tier: v.tier,
      categories: v.categories,
      ...(v.refusal ? { refusal: v.refusal } : {}),
      raw: v.raw,
      ...(v.probabilities ? { probabilities: v.probabilities } : {}),
    };
  } catch (error) {
    return { error: error instanceof Error ? `${error.name}: ${error.message}` : String(error) };
  }
}

async function load(folder: string, sequences: number): Promise<GenGuard> {
  return GenGuard.load({
    model: folder,
    quantization: "f32",
    cacheDir: path.join(dir, "cache"),
    engine: "llama-ffi",
    gpu: "cpu",
    flashAttention: "off",
    kvCache: "f32",
    contextSize: 1024,
    sequences,
    threads: 1,
  });
}

function engineOf(guard: GenGuard): FfiGenEngine {
  const engine = genGuardInternals(guard).engine;
  assert.ok(engine instanceof FfiGenEngine);
  return engine;
}

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "gen-concurrent-sharing-"));
  const crafted = writeCraftedGenModel(path.join(dir, "crafted"));
  synthesizeModel({ kind: "gen", shape: "tiny", outDir: path.join(dir, "random"), dtype: "f32", seed: 31 });
  const specs = [
    ["crafted", crafted.dir, cases(crafted.trigger.word, true)],
    ["random", path.join(dir, "random"), cases("grenade", true)],
  ] as const;
  for (const [name, folder, list] of specs) {
    const serial = await load(folder, 1);
    const engine = engineOf(serial);
    engine.sharePrefixes = false;
    engine.mergeDecodes = false;
    const expected: Outcome[] = [];
    try {
      for (const c of list) expected.push(await outcome(serial, c));
    } finally {
      await serial.close();
    }
    const guard = await load(folder, 4);
    models.set(name, { dir: folder, cases: list, expected, guard, engine: engineOf(guard) });
  }
});

after(async () => {
  for (const m of models.values()) await m.guard.close();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

function assertSame(got: Outcome, want: Outcome, label: string): number {
  if ("error" in want || "error" in got) {
    assert.deepEqual(got, want, label);
    return 0;
  }
  const { probabilities: p, ...rest } = got;
  const { probabilities: q, ...wantRest } = want;
  assert.deepEqual(rest, wantRest, label);
  let max = 0;
  if (p || q) {
    assert.ok(p && q, `${label}: probabilities on one side only`);
    for (const k of Object.keys(q) as (keyof typeof q)[]) max = Math.max(max, Math.abs(p[k] - q[k]));
  }
  assert.ok(max < TOLERANCE, `${label}: max|Δp(tier)| ${max}`);
  return max;
}

for (const name of ["crafted", "random"]) {
  test(`${name}: concurrent requests in many orders give the verdicts of one-by-one requests, with and without sharing and merging`, async (t) => {
    const m = models.get(name)!;
    const rng = seededRandom(name === "crafted" ? 1 : 2);
    const kinds = new Set(m.expected.map((o) => ("error" in o ? "error" : o.tier)));
    t.diagnostic(`${m.cases.length} cases, one by one: ${[...kinds].join(", ")}`);
    let worst = 0;
    for (let round = 0; round < ROUNDS; round++) {
      // sharing and merging on (the default) in most rounds; each off in one
      const share = round !== 1 && round !== 3;
      const merge = round !== 2 && round !== 3;
      m.engine.sharePrefixes = share;
      m.engine.mergeDecodes = merge;
      // a seeded order, each case once or twice, each started after a seeded number of event-loop turns
      const order = m.cases.flatMap((_, i) => (rng() < 0.3 ? [i, i] : [i]));
      for (let i = order.length - 1; i > 0; i--) {
        const j = Math.floor(rng() * (i + 1));
        [order[i], order[j]] = [order[j]!, order[i]!];
      }
      const results = await Promise.all(
        order.map(async (i) => {
          for (let k = Math.floor(rng() * 4); k > 0; k--) await new Promise((r) => setImmediate(r));
          return outcome(m.guard, m.cases[i]!);
        }),
      );
      results.forEach((got, k) => {
        const i = order[k]!;
        worst = Math.max(
          worst,
          assertSame(
            got,
            m.expected[i]!,
            `round ${round} (share ${share}, merge ${merge}), case #${i} (${m.cases[i]!.mode})`,
          ),
        );
      });
    }
    m.engine.sharePrefixes = true;
    m.engine.mergeDecodes = true;
    const stats = m.engine.stats;
    t.diagnostic(`${ROUNDS} rounds: ${JSON.stringify(stats)}; max|Δp(tier)| ${worst.toExponential(2)}`);
    assert.ok(stats.sharedPrefixCopies > 0, "heads were shared");
    assert.ok(stats.mergedDecodes > 0, "decodes were merged");
    assert.equal(stats.sharedPrefixEvaluations, 2, "each head was evaluated once");
  });
}
