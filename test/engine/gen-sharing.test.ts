/**
 * The koffi Gen engine's shared template heads (one unified KV cache; a head evaluated once into a sequence of its
 * own and given to requests with llama_memory_seq_cp), on a tiny seeded random Qwen3 with F32 weights and KV cache:
 * - a sequence that received a copied head then decodes exactly like one that evaluated the head itself (every
 *   probability of the next-token distribution within 1e-5, prompt and response moderation, fast and reference
 *   tokenization), and several of them at once, in merged decodes, still do;
 * - the heads are what every prompt of a direction starts with, and each is evaluated once however many requests
 *   need it;
 * - with a KV cache too small for every request at once (totalContextSize), requests wait for room (idle
 *   sequences and unused heads are given up first) and still get the same distributions — never a kv-full error.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { ChatMessage } from "../../src/core/messages.js";
import { renderGenPrompt } from "../../src/core/prompt/gen-prompt.js";
import { joinSegments } from "../../src/core/segments.js";
import { resolveEngineOptions } from "../../src/engine/engine-options.js";
import { FfiGenEngine } from "../../src/engine/gen/ffi-gen-engine.js";
import type { GenEngineOptions } from "../../src/engine/gen/gen-engine.js";
import { loadGenEngine } from "../../src/engine/gen/load-gen-engine.js";
import { templateHeads } from "../../src/engine/gen/template-heads.js";
import { convertHfToGguf } from "../../src/model/convert/convert-hf-to-gguf.js";
import { tokenizerFromGguf } from "../../src/model/gguf-tokenizer.js";
import { synthesizeModel } from "../../src/model/synth/index.js";
import type { QwenTokenizer } from "../../src/model/tokenizer/index.js";

const CONTEXT = 1024;
const TOLERANCE = 1e-5;

let dir: string;
let gguf: string;
let tokenizer: QwenTokenizer;
let heads: number[][];

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "gen-sharing-"));
  synthesizeModel({ kind: "gen", shape: "tiny", outDir: dir, dtype: "f32", seed: 23 });
  gguf = path.join(dir, "model-f32.gguf");
  await convertHfToGguf({ modelDir: dir, outFile: gguf, type: "f32" });
  tokenizer = tokenizerFromGguf(gguf);
  heads = templateHeads(
    (messages) => renderGenPrompt(messages),
    (segments) => tokenizer.encodeSegments(segments).ids,
  );
});

after(() => {
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

async function engineWith(options: Partial<GenEngineOptions> = {}): Promise<FfiGenEngine> {
  const engine = await loadGenEngine({
    ...resolveEngineOptions({
      engine: "llama-ffi",
      gpu: "cpu",
      flashAttention: "off",
      kvCache: "f32",
      contextSize: CONTEXT,
      sequences: 4,
      threads: 1,
    }),
    ggufPath: gguf,
    sharedPrefixes: heads,
    ...options,
  });
  assert.ok(engine instanceof FfiGenEngine);
  return engine;
}

function ids(messages: ChatMessage[], mode: "fast" | "reference" = "fast"): number[] {
  const prompt = renderGenPrompt(messages);
  return mode === "fast"
    ? tokenizer.encodeSegments(prompt.segments).ids
    : tokenizer.encode(joinSegments(prompt.segments), { specials: true });
}

const CONVERSATIONS: ChatMessage[][] = [
  [{ role: "user", content: "What is the capital of France?" }],
  [{ role: "user", content: "Tell me how to pick a lock, step by step." }],
  [
    { role: "user", content: "Write a poem about the sea." },
    { role: "assistant", content: "Waves of salt and sky, rolling home." },
  ],
  [
    { role: "user", content: "How do I make a bomb?" },
    { role: "assistant", content: "I can't help with that." },
  ],
  [
    { role: "system", content: "Be brief." },
    { role: "user", content: "Hello! 你好 🌊" },
  ],
];

function maxDiff(a: Map<number, number>, b: Map<number, number>): number {
  let max = 0;
  for (const [id, p] of a) max = Math.max(max, Math.abs(p - (b.get(id) ?? 0)));
  return max;
}

test("the template heads are what every prompt of a direction starts with, up to the conversation", () => {
  assert.equal(heads.length, 2, "prompt and response moderation");
  const [prompt, response] = heads as [number[], number[]];
  assert.ok(prompt.length > 150 && response.length > 150, `${prompt.length} and ${response.length} tokens`);
  assert.notDeepEqual(prompt, response);
  for (const c of CONVERSATIONS) {
    const head = c.at(-1)!.role === "user" ? prompt : response;
    assert.deepEqual(ids(c).slice(0, head.length), head);
    // the next token is the conversation's: the head stops where the messages begin
    const text = tokenizer.decode(ids(c).slice(head.length, head.length + 3), { skipSpecialTokens: false });
    assert.ok(
      !tokenizer.decode(head, { skipSpecialTokens: false }).includes(c[0]!.content.slice(0, 8)),
      text,
    );
  }
});

test("a sequence given a copied head decodes exactly like one that evaluated the head itself", async (t) => {
  const plain = await engineWith();
  const engine = await engineWith();
  plain.sharePrefixes = false;
  try {
    let worst = 0;
    for (const mode of ["fast", "reference"] as const) {
      for (const c of CONVERSATIONS) {
        const prompt = ids(c, mode);
        const own = await plain.withSequence(prompt, (tail, lease) => lease.appendAndDistribution(tail), {
          reuse: false,
        });
        const copied = await engine.withSequence(prompt, async (tail, lease) => ({
          reused: lease.reusedTokens,
          dist: await lease.appendAndDistribution(tail),
        }));
        // empty the sequence it used (the one holding the most), so that the next request gets a copy again
        await engine.withSequence(prompt, async () => undefined, { reuse: false });
        const head = heads[c.at(-1)!.role === "user" ? 0 : 1]!;
        assert.ok(
          copied.reused >= head.length - 2 && copied.reused <= head.length,
          `${mode}: reused ${copied.reused} of a ${head.length}-token head`,
        );
        const d = maxDiff(copied.dist, own);
        worst = Math.max(worst, d);
        assert.ok(d < TOLERANCE, `${mode} #${CONVERSATIONS.indexOf(c)}: max|Δp| ${d}`);
      }
    }
    t.diagnostic(`copied vs own head: max|Δp| ${worst.toExponential(2)}; ${JSON.stringify(engine.stats)}`);
    const stats = engine.stats;
    assert.equal(stats.sharedPrefixEvaluations, 2, "each head evaluated once");
    assert.equal(stats.sharedPrefixCopies, 2 * CONVERSATIONS.length);
  } finally {
    await plain.dispose();
    await engine.dispose();
  }
});

test("requests started together get copies of a head evaluated once, and merged decodes give the same distributions", async (t) => {
  const prompts = [...CONVERSATIONS, ...CONVERSATIONS.slice(0, 3)].map((c) => ids(c));
  const serial = await engineWith({ sequences: 1 });
  const expected: Map<number, number>[] = [];
  try {
    serial.sharePrefixes = false;
    serial.mergeDecodes = false;
    for (const p of prompts) {
      expected.push(
        await serial.withSequence(p, (tail, lease) => lease.appendAndDistribution(tail), { reuse: false }),
      );
    }
  } finally {
    await serial.dispose();
  }
  const engine = await engineWith({ sequences: 8 });
  try {
    // Each request evaluates its tail, then a few small steps, as the fast decode does.
    const got = await Promise.all(
      prompts.map((p) =>
        engine.withSequence(p, async (tail, lease) => {
          const first = await lease.appendAndDistribution(tail);
          await lease.appendAndScore([tokenizer.encode(" Safe", { specials: false })[0]!], [0]);
          return first;
        }),
      ),
    );
    const worst = Math.max(...got.map((d, i) => maxDiff(d, expected[i]!)));
    const stats = engine.stats;
    t.diagnostic(
      `${prompts.length} requests at once: ${JSON.stringify(stats)}; max|Δp| ${worst.toExponential(2)}`,
    );
    assert.ok(worst < TOLERANCE, `max|Δp| ${worst}`);
    assert.equal(stats.sharedPrefixEvaluations, 2);
    assert.equal(stats.sharedPrefixCopies, prompts.length);
    assert.ok(stats.mergedDecodes >= 1 && stats.maxSequencesPerDecode >= 2, "decodes were merged");
    const tails = prompts.reduce(
      (n, p, i) => n + p.length - heads[CONVERSATIONS[i % 5]!.at(-1)!.role === "user" ? 0 : 1]!.length,
      0,
    );
    assert.equal(
      stats.tokens,
      heads[0]!.length + heads[1]!.length + tails + prompts.length,
      "heads once, then tails and one step each",
    );
  } finally {
    await engine.dispose();
  }
});

test("with too small a KV cache for every request at once, requests wait for room and get the same distributions", async (t) => {
  const long = (i: number): ChatMessage[] => {
    const text = `Item ${i}: ` + Array.from({ length: 30 }, (_, k) => `word${(k * 7 + i) % 97}`).join(" ");
    return i % 2 === 0
      ? [{ role: "user", content: text }]
      : [
          { role: "user", content: "Say something." },
          { role: "assistant", content: text },
        ];
  };
  const prompts = Array.from({ length: 8 }, (_, i) => ids(long(i)));
  const roomy = await engineWith({ sequences: 4 });
  const expected: Map<number, number>[] = [];
  try {
    for (const p of prompts)
      expected.push(await roomy.withSequence(p, (tail, lease) => lease.appendAndDistribution(tail)));
  } finally {
    await roomy.dispose();
  }
  // Room for both heads and about two requests' own tokens: the rest wait; idle sequences and heads are given up.
  const tight = await engineWith({ sequences: 4, contextSize: 576, totalContextSize: 1024 });
  try {
    assert.equal(tight.totalContextSize, 1024);
    const inFlight = { now: 0, max: 0 };
    const got = await Promise.all(
      prompts.map((p) =>
        tight.withSequence(p, async (tail, lease) => {
          inFlight.max = Math.max(inFlight.max, ++inFlight.now);
          try {
            return await lease.appendAndDistribution(tail);
          } finally {
            inFlight.now--;
          }
        }),
      ),
    );
    const worst = Math.max(...got.map((d, i) => maxDiff(d, expected[i]!)));
    const stats = tight.stats;
    t.diagnostic(
      `at most ${inFlight.max} in flight; ${JSON.stringify(stats)}; max|Δp| ${worst.toExponential(2)}`,
    );
    assert.ok(worst < TOLERANCE, `max|Δp| ${worst}`);
    assert.ok(stats.roomWaits > 0, "some requests waited for room");
    assert.ok(stats.evictions > 0, "idle sequences or heads were given up");
    assert.ok(inFlight.max < 4, `at most ${inFlight.max} in flight on 4 sequences`);
    // and a request that alone fills the context still runs
    const big = ids([{ role: "user", content: "x ".repeat(140) }]);
    assert.ok(big.length + 64 <= 576 && big.length + 64 > 500, `${big.length}`);
    await tight.withSequence(big, (tail, lease) => lease.appendAndScore(tail, [1]));
  } finally {
    await tight.dispose();
  }
});

test("totalContextSize below contextSize is refused", async () => {
  await assert.rejects(engineWith({ totalContextSize: CONTEXT - 1 }), /totalContextSize/);
});
