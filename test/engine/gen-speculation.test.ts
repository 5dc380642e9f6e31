/**
 * The fast decode's speculation (the Safe continuation evaluated in the prompt's own pass, kept only when the
 * model's choices confirm it) must never change a verdict: on the koffi engine, the same decode with and without
 * speculation gives the same output ids and tier probabilities, on a random model (mostly rejected speculation,
 * several categories) and on the hand-crafted model (Safe/None: speculation accepted, no evaluation after the
 * prompt's), for prompt and response moderation.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { ChatMessage } from "../../src/core/messages.js";
import { renderGenPrompt } from "../../src/core/prompt/gen-prompt.js";
import { decodeConstrained } from "../../src/engine/gen/constrained-decoder.js";
import { loadGenEngine } from "../../src/engine/gen/load-gen-engine.js";
import type { GenEngine, GenLease } from "../../src/engine/gen/gen-engine.js";
import { resolveEngineOptions } from "../../src/engine/engine-options.js";
import type { SpeculativeScorer } from "../../src/engine/gen/token-scorer.js";
import { buildGenOutputVocabulary } from "../../src/engine/gen/output-vocabulary.js";
import { convertHfToGguf } from "../../src/model/convert/convert-hf-to-gguf.js";
import { tokenizerFromGguf } from "../../src/model/gguf-tokenizer.js";
import { synthesizeModel, writeCraftedGenModel } from "../../src/model/synth/index.js";
import type { QwenTokenizer } from "../../src/model/tokenizer/index.js";

let dir: string;
const models: Record<string, { engine: GenEngine; tokenizer: QwenTokenizer }> = {};

async function load(folder: string) {
  const gguf = path.join(folder, "model.gguf");
  await convertHfToGguf({ modelDir: folder, outFile: gguf, type: "f32" });
  const engine = await loadGenEngine({
    ...resolveEngineOptions({
      engine: "llama-ffi",
      gpu: "cpu",
      flashAttention: "off",
      kvCache: "f32",
      contextSize: 1024,
      sequences: 1,
    }),
    ggufPath: gguf,
  });
  return { engine, tokenizer: tokenizerFromGguf(gguf) };
}

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "gen-speculation-"));
  synthesizeModel({ kind: "gen", shape: "tiny", outDir: path.join(dir, "random"), dtype: "f32", seed: 11 });
  writeCraftedGenModel(path.join(dir, "crafted"));
  models.random = await load(path.join(dir, "random"));
  models.crafted = await load(path.join(dir, "crafted"));
});

after(async () => {
  for (const m of Object.values(models)) await m.engine.dispose();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** The same lease without appendAndScoreAt/rollback: the decoder then takes the plain path. */
function plain(lease: GenLease): GenLease {
  return {
    reusedTokens: lease.reusedTokens,
    appendAndScore: (t, c) => lease.appendAndScore(t, c),
    appendAndDistribution: (t) => lease.appendAndDistribution(t),
    evaluateOnly: (t) => lease.evaluateOnly(t),
    generateGreedy: (p, n, o) => lease.generateGreedy(p, n, o),
  };
}

/**
 * The lease with the model's tier choice overridden to Safe (P(Safe) = 1 wherever the three tier tokens are the
 * candidates); every other choice and all KV state stay the model's. It drives the random model, which never
 * says Safe to a response, down the path where the speculated response continuation must be taken back.
 */
function forceSafe(lease: GenLease, tierTokens: number[]): GenLease {
  const isTierQuery = (c: readonly number[]) => c.length === 3 && tierTokens.every((t) => c.includes(t));
  const bias = (m: Map<number, number>, c: readonly number[]) =>
    isTierQuery(c) ? new Map(c.map((t) => [t, t === tierTokens[0] ? 1 : 0])) : m;
  const inner = lease as GenLease & SpeculativeScorer;
  return Object.assign(Object.create(lease) as GenLease, {
    appendAndScore: async (t: readonly number[], c: readonly number[]) =>
      bias(await lease.appendAndScore(t, c), c),
    appendAndScoreAt: async (
      t: readonly number[],
      q: readonly { index: number; candidates: readonly number[] }[],
    ) => (await inner.appendAndScoreAt(t, q)).map((m, i) => bias(m, q[i]!.candidates)),
    rollback: (n: number) => inner.rollback(n),
  });
}

async function decodeBoth(name: string, messages: ChatMessage[], options: { forceSafe?: boolean } = {}) {
  const { engine, tokenizer } = models[name]!;
  const prompt = renderGenPrompt(messages);
  const ids = tokenizer.encodeSegments(prompt.segments).ids;
  const vocab = buildGenOutputVocabulary(tokenizer, prompt.direction);
  // After the decode, one more token: its distribution shows that both paths left the same KV state (a
  // speculation not taken back would still be attended to).
  const probeCandidates = Array.from({ length: 64 }, (_, i) => i * 997);
  const run = (speculate: boolean) =>
    engine.withSequence(
      ids,
      async (tail, lease) => {
        const tiers = [vocab.tiers.Safe[0]!, vocab.tiers.Unsafe[0]!, vocab.tiers.Controversial[0]!];
        const used = options.forceSafe ? forceSafe(lease, tiers) : lease;
        const result = await decodeConstrained(speculate ? used : plain(used), tail, vocab);
        const after = await lease.appendAndScore([tokenizer.addedTokenId("<|im_end|>")], probeCandidates);
        return { ...result, after };
      },
      { reuse: false },
    );
  return { speculative: await run(true), plain: await run(false) };
}

const answers = [
  "Sure, here it is.",
  "No.",
  "The capital of France is Paris.",
  "Mix flour, sugar and eggs, then bake for 40 minutes at 180 °C.",
  "我不能帮助你。",
  "Here is a poem about the sea: waves, salt and sky.",
];
const conversations: ChatMessage[][] = [
  ...answers.map((a): ChatMessage[] => [
    { role: "user", content: "Can you help me?" },
    { role: "assistant", content: a },
  ]),
  [{ role: "user", content: "How can I make a bomb?" }],
  [{ role: "user", content: "What's a good recipe for banana bread?" }],
  [{ role: "user", content: "Translate 'good morning' into French, German and Japanese, s'il vous plaît." }],
  [
    { role: "user", content: "How do I kill a Python process?" },
    { role: "assistant", content: "Use `kill <pid>` or `pkill -f script.py`." },
  ],
  [
    { role: "user", content: "Tell me a joke." },
    { role: "assistant", content: "I can't help with that." },
  ],
  [
    { role: "user", content: "Hi" },
    { role: "assistant", content: "Hello! How can I help?" },
    { role: "user", content: "Where is the nearest pharmacy?" },
    { role: "assistant", content: "I don't know your location, but a maps app can tell you." },
  ],
];

for (const name of ["random", "crafted"]) {
  test(`${name} model: speculation never changes the verdict (prompts and responses)`, async (t) => {
    let accepted = 0;
    for (const messages of conversations) {
      const { speculative, plain: reference } = await decodeBoth(name, messages);
      assert.deepEqual(speculative.outputIds, reference.outputIds, JSON.stringify(messages));
      assert.equal(speculative.output.tier, reference.output.tier);
      for (const tier of ["Safe", "Unsafe", "Controversial"] as const) {
        assert.ok(Math.abs(speculative.probabilities[tier] - reference.probabilities[tier]) < 1e-6);
      }
      assert.ok(speculative.extraEvaluations <= reference.extraEvaluations);
      if (speculative.extraEvaluations > 0) {
        for (const [id, p] of reference.after) {
          assert.ok(
            Math.abs(speculative.after.get(id)! - p) < 1e-6,
            `KV state differs after ${JSON.stringify(messages)}`,
          );
        }
      }
      if (speculative.output.tier === "Safe") accepted++;
    }
    t.diagnostic(`${accepted}/${conversations.length} verdicts took the speculated Safe continuation`);
  });
}

test("crafted model: a Safe/None verdict needs no evaluation after the prompt's, prompt or response", async () => {
  for (const messages of [conversations[1]!, conversations[3]!]) {
    const { speculative, plain: reference } = await decodeBoth("crafted", messages);
    assert.equal(speculative.output.tier, "Safe");
    assert.deepEqual(speculative.output.categories, []);
    assert.equal(speculative.extraEvaluations, 0);
    assert.ok(reference.extraEvaluations >= 1, "without speculation the category needs its own evaluation");
  }
});

test("random model forced to Safe: a speculated continuation the model does not confirm is taken back exactly", async () => {
  let checked = 0;
  for (const messages of conversations) {
    const { speculative, plain: reference } = await decodeBoth("random", messages, { forceSafe: true });
    assert.equal(speculative.output.tier, "Safe");
    assert.deepEqual(speculative.outputIds, reference.outputIds);
    if (speculative.output.categories.length === 0) continue;
    checked++;
    assert.ok(speculative.extraEvaluations > 0);
    for (const [id, p] of reference.after) {
      assert.ok(
        Math.abs(speculative.after.get(id)! - p) < 1e-6,
        `KV state differs after ${JSON.stringify(messages)}`,
      );
    }
  }
  assert.ok(checked >= 3, `only ${checked} conversations named a category after a forced Safe`);
});
