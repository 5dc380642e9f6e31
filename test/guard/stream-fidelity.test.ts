/**
 * Fidelity of the Stream guard against the float32 reference (backbone forward + reference heads), on a tiny
 * seeded Qwen3Guard-Stream model with F32 weights and KV cache and flash attention off: the prompt verdict, and
 * every answer token's head probabilities whether the answer is pushed token by token, in chunks, or as text in
 * random chunks — on the koffi binding and on the forced node-llama-cpp fallback.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { synthesizeModel } from "../../src/model/synth/index.js";
import type { StreamGuard } from "../../src/guard/stream-guard.js";
import { streamGuardInternals } from "../../src/guard/internals.js";
import type { StreamTokenVerdict } from "../../src/guard/stream-types.js";
import { loadGuard, maxDiff, randomChunks, referenceHeads, tempDir } from "./stream-fixture.js";

const TOL = 1e-4;
const MESSAGES = [
  { role: "system" as const, content: "You are a helpful assistant." },
  { role: "user" as const, content: "How do I bake bread at home? 🍞" },
];
const ANSWER =
  "Sure! Mix 500 g of flour with 350 ml of water, add salt and yeast, knead 10 minutes, let it rise, " +
  "then bake at 220°C for 35 minutes. Guten Appetit — 祝你好运! 👩‍🍳";

let tmp: ReturnType<typeof tempDir>;
let guard: StreamGuard;
let reference: ReturnType<typeof referenceHeads>;
let answerIds: number[];
let expected: ReturnType<ReturnType<typeof referenceHeads>>;
let promptLength: number;
let prefixLength: number;

before(async () => {
  tmp = tempDir("stream-fidelity-");
  synthesizeModel({ kind: "stream", shape: "tiny", outDir: tmp.dir, dtype: "f32", seed: 5 });
  guard = await loadGuard(tmp.dir);
  reference = referenceHeads(tmp.dir);
  const tokenizer = streamGuardInternals(guard).tokenizer;
  answerIds = tokenizer.encode(ANSWER, { specials: false });
  const promptIds = guard.promptIds(MESSAGES);
  const header = tokenizer.encode("\n<|im_start|>assistant\n<think>\n\n</think>\n\n", { specials: true });
  promptLength = promptIds.length;
  prefixLength = promptIds.length + header.length;
  expected = reference([...promptIds, ...header, ...answerIds]);
});

after(async () => {
  await guard?.close();
  tmp?.cleanup();
});

function checkTokens(verdicts: StreamTokenVerdict[], label: string): void {
  assert.deepEqual(
    verdicts.map((v) => v.token),
    answerIds,
    `${label}: token ids`,
  );
  let worst = 0;
  verdicts.forEach((v, i) => {
    const ref = expected[prefixLength + i]!.response;
    assert.equal(v.index, i);
    const tiers = ref.risk.labels.map((name) => v.probabilities[name as "Safe"]);
    worst = Math.max(worst, maxDiff(tiers, ref.risk.probs));
    const cats = ref.category.labels.map((name) => v.categoryProbabilities[name]!);
    worst = Math.max(worst, maxDiff(cats, ref.category.probs));
    assert.equal(v.tier, ref.risk.label, `${label}: token ${i} tier`);
    assert.equal(v.category, ref.category.label, `${label}: token ${i} category`);
  });
  assert.ok(worst < TOL, `${label}: max probability difference ${worst}`);
}

test("the prompt verdict is the reference query heads at the last prompt position", async () => {
  const session = await guard.openStream(MESSAGES);
  try {
    const ref = expected[promptLength - 1]!.query;
    assert.equal(session.prompt.promptTokens, promptLength);
    assert.equal(session.prompt.tier, ref.risk.label);
    assert.equal(session.prompt.category, ref.category.label);
    const tiers = ref.risk.labels.map((name) => session.prompt.probabilities[name as "Safe"]);
    assert.ok(maxDiff(tiers, ref.risk.probs) < TOL);
    const cats = ref.category.labels.map((name) => session.prompt.categoryProbabilities[name]!);
    assert.equal(cats.length, 9, "query categories come from config.json (9, with Jailbreak)");
    assert.ok(maxDiff(cats, ref.category.probs) < TOL);
  } finally {
    await session.close();
  }
});

for (const chunk of [1, 3, 7]) {
  test(`answer tokens pushed in chunks of ${chunk} (each awaited) match the reference`, async () => {
    const session = await guard.openStream(MESSAGES);
    try {
      const verdicts: StreamTokenVerdict[] = [];
      for (let i = 0; i < answerIds.length; i += chunk) {
        verdicts.push(...(await session.pushTokens(answerIds.slice(i, i + chunk))));
      }
      checkTokens(verdicts, `chunk ${chunk}`);
    } finally {
      await session.close();
    }
  });
}

test("tokens pushed one by one without awaiting are coalesced and still match", async () => {
  const session = await guard.openStream(MESSAGES);
  try {
    const before = guard.stats.decodes;
    const all = await Promise.all(answerIds.map((t) => session.pushTokens([t])));
    checkTokens(all.flat(), "unawaited");
    const decodes = guard.stats.decodes - before;
    assert.ok(decodes < answerIds.length, `${answerIds.length} pushes took ${decodes} decodes`);
  } finally {
    await session.close();
  }
});

for (const seed of [1, 2]) {
  test(`text pushed in random chunks (seed ${seed}) gives the token path's verdicts`, async () => {
    const session = await guard.openStream(MESSAGES);
    try {
      const verdicts: StreamTokenVerdict[] = [];
      for (const piece of randomChunks(ANSWER, seed)) verdicts.push(...(await session.push(piece)));
      const end = await session.end();
      verdicts.push(...end.tokens);
      checkTokens(verdicts, `text seed ${seed}`);
      assert.equal(verdicts.map((v) => v.text).join(""), ANSWER);
      assert.equal(end.verdict.tokens, answerIds.length);
    } finally {
      await session.close();
    }
  });
}

test("the node-llama-cpp fallback (forced) gives the same prompt and per-token verdicts", async () => {
  const fallback = await loadGuard(tmp.dir, { engine: "node-llama-cpp", sequences: 1 });
  try {
    assert.equal(fallback.info.engine, "node-llama-cpp");
    const session = await fallback.openStream(MESSAGES);
    const ref = expected[promptLength - 1]!.query;
    const tiers = ref.risk.labels.map((name) => session.prompt.probabilities[name as "Safe"]);
    assert.ok(maxDiff(tiers, ref.risk.probs) < TOL);
    const verdicts: StreamTokenVerdict[] = [];
    for (let i = 0; i < answerIds.length; i += 5)
      verdicts.push(...(await session.pushTokens(answerIds.slice(i, i + 5))));
    checkTokens(verdicts, "fallback");
    await session.close();
  } finally {
    await fallback.close();
  }
});
