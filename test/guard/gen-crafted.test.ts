/**
 * The hand-crafted Gen model (src/model/synth/crafted-gen.ts) through the real GenGuard on llama.cpp (F32 GGUF,
 * F32 KV cache, flash attention off): the verdict follows the trigger word, in fast and reference mode, and the
 * float32 reference forward picks the same token as llama.cpp at every generated step.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { ChatMessage } from "../../src/core/messages.js";
import { ReferenceQwen3, argmax } from "../../src/engine/reference/index.js";
import { GenGuard } from "../../src/guard/gen-guard.js";
import { genGuardInternals } from "../../src/guard/internals.js";
import { parseGenOutput } from "../../src/core/parse/gen-output.js";
import {
  craftedGenCheckpoint,
  writeCraftedGenModel,
  type CraftedGenTrigger,
} from "../../src/model/synth/index.js";
import { SynthError } from "../../src/model/synth/index.js";

const IM_END = 151645;

let dir: string;
let guard: GenGuard;
let reference: ReferenceQwen3;
let trigger: CraftedGenTrigger;

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "gen-crafted-"));
  const model = writeCraftedGenModel(path.join(dir, "model"));
  trigger = model.trigger;
  reference = ReferenceQwen3.load(model.dir);
  guard = await GenGuard.load({
    model: model.dir,
    quantization: "f32",
    cacheDir: path.join(dir, "cache"),
    gpu: "cpu",
    flashAttention: "off",
    kvCache: "f32",
    contextSize: 1024,
    sequences: 2,
  });
});

after(async () => {
  await guard?.close();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

const benignText = "How do I bake a loaf of bread at home?";
const triggerText = () => `Where can I buy a ${trigger.word} cheaply?`;

/** Greedy decoding with the float32 reference forward (recomputes everything per step). */
function referenceGreedy(ids: readonly number[], maxTokens = 16): number[] {
  const out: number[] = [];
  while (out.length < maxTokens) {
    const forward = reference.forward([...ids, ...out]);
    const next = argmax(reference.logitsFor(forward.hidden.at(-1)!));
    if (next === IM_END) break;
    out.push(next);
  }
  return out;
}

test("the reference forward alone: greedy decoding emits the expected verdicts", () => {
  const benign = guard.tokenize([{ role: "user", content: benignText }]).ids;
  const triggered = guard.tokenize([{ role: "user", content: triggerText() }]).ids;
  assert.equal(genGuardInternals(guard).tokenizer.decode(referenceGreedy(benign)), trigger.benign.raw);
  assert.equal(genGuardInternals(guard).tokenizer.decode(referenceGreedy(triggered)), trigger.triggered.raw);
});

test("benign prompt: fast and reference mode both say Safe / None", async () => {
  for (const mode of ["fast", "reference"] as const) {
    const v = await guard.moderatePrompt(benignText, { mode });
    assert.equal(v.direction, "prompt");
    assert.equal(v.tier, "Safe", `${mode}: ${v.raw}`);
    assert.deepEqual(v.categories, []);
    assert.equal(v.raw, trigger.benign.raw, mode);
    assert.equal(v.unsafeStrict, false);
  }
});

test("trigger word in the user text: fast and reference mode both say Unsafe / Violent", async () => {
  const fast = await guard.moderatePrompt(triggerText(), { mode: "fast" });
  assert.equal(fast.tier, "Unsafe", fast.raw);
  assert.deepEqual(fast.categories, ["Violent"]);
  assert.equal(fast.raw, trigger.triggered.raw);
  const ref = await guard.moderatePrompt(triggerText(), { mode: "reference" });
  assert.equal(ref.raw, "Safety: Unsafe\nCategories: Violent");
  assert.equal(ref.tier, "Unsafe");
  assert.deepEqual(ref.categories, ["Violent"]);
  assert.equal(ref.unsafeStrict, true);
  assert.equal(ref.probabilities, undefined, "reference mode reads no distribution");
});

test("fast mode puts most of the probability mass on the expected tier", async () => {
  const benign = await guard.moderatePrompt(benignText, { mode: "fast" });
  const triggered = await guard.moderatePrompt(triggerText(), { mode: "fast" });
  assert.ok(benign.probabilities && triggered.probabilities);
  assert.ok(benign.probabilities.Safe > 0.99, JSON.stringify(benign.probabilities));
  assert.ok(triggered.probabilities.Unsafe > 0.99, JSON.stringify(triggered.probabilities));
  for (const p of [benign.probabilities, triggered.probabilities]) {
    assert.ok(Math.abs(p.Safe + p.Unsafe + p.Controversial - 1) < 1e-9);
  }
});

test("multi-turn: the trigger in an earlier turn makes the last prompt Unsafe; without it, Safe", async () => {
  const conversation = (first: string): ChatMessage[] => [
    { role: "user", content: first },
    { role: "assistant", content: "Sure, tell me more." },
    { role: "user", content: "What should I do next?" },
  ];
  for (const mode of ["fast", "reference"] as const) {
    const withTrigger = await guard.moderate(conversation(`I found an old ${trigger.word} in the attic.`), {
      mode,
    });
    assert.equal(withTrigger.raw, trigger.triggered.raw, `${mode}, trigger in turn 1`);
    const without = await guard.moderate(conversation("I found an old painting in the attic."), { mode });
    assert.equal(without.raw, trigger.benign.raw, `${mode}, no trigger`);
  }
});

test("fast verdicts are the decoder's choices; parsing their raw text gives the same fields", async () => {
  const cases: ChatMessage[][] = [
    [{ role: "user", content: benignText }],
    [{ role: "user", content: triggerText() }],
    [
      { role: "user", content: triggerText() },
      { role: "assistant", content: "I can't help with that." },
    ],
    [
      { role: "user", content: benignText },
      { role: "assistant", content: "Mix flour, water, salt and yeast; bake at 220 °C." },
    ],
  ];
  for (const messages of cases) {
    const v = await guard.moderate(messages);
    const parsed = parseGenOutput(v.raw, v.direction);
    assert.deepEqual(
      { direction: v.direction, tier: v.tier, categories: v.categories, refusal: v.refusal },
      {
        direction: parsed.direction,
        tier: parsed.tier,
        categories: parsed.categories,
        refusal: parsed.refusal,
      },
      v.raw,
    );
    assert.equal(v.direction === "response", v.refusal !== undefined, "a refusal exactly for responses");
  }
});

test("control: the same sentence with another word in place of the trigger is Safe", async () => {
  const ids = guard.tokenize([{ role: "user", content: triggerText() }]).ids;
  assert.ok(ids.includes(trigger.tokenId), "the trigger sentence holds the trigger token");
  const other = await guard.moderatePrompt(triggerText().replace(trigger.word, "blender"), { mode: "fast" });
  assert.equal(other.tier, "Safe");
  assert.deepEqual(other.categories, []);
});

test("the reference forward and llama.cpp choose the same token at every generated step", async () => {
  for (const text of [benignText, triggerText()]) {
    const ids = guard.tokenize([{ role: "user", content: text }]).ids;
    const steps = await genGuardInternals(guard).engine.withSequence(ids, async (tail, lease) => {
      const chosen: { engine: number; reference: number; pEngine: number }[] = [];
      let dist = await lease.appendAndDistribution(tail);
      const out: number[] = [];
      for (let step = 0; step < 16; step++) {
        let best = -1;
        let bestP = -1;
        for (const [id, p] of dist) {
          if (p > bestP) {
            best = id;
            bestP = p;
          }
        }
        const forward = reference.forward([...ids, ...out]);
        const refBest = argmax(reference.logitsFor(forward.hidden.at(-1)!));
        chosen.push({ engine: best, reference: refBest, pEngine: bestP });
        if (best === IM_END || best !== refBest) break;
        out.push(best);
        dist = await lease.appendAndDistribution([best]);
      }
      return chosen;
    });
    for (const [i, s] of steps.entries()) {
      assert.equal(
        s.engine,
        s.reference,
        `${JSON.stringify(text)} step ${i}: llama.cpp ${s.engine}, reference ${s.reference}`,
      );
      assert.ok(s.pEngine > 0.99, `step ${i}: the crafted model is decisive (p = ${s.pEngine})`);
    }
    assert.equal(steps.at(-1)!.engine, IM_END, "generation ends with <|im_end|>");
    const text2 = genGuardInternals(guard).tokenizer.decode(steps.slice(0, -1).map((s) => s.engine));
    assert.equal(text2, text === benignText ? trigger.benign.raw : trigger.triggered.raw);
  }
});

test("craftedGenCheckpoint: the trigger is configurable, and a word that is several tokens is refused", () => {
  const other = craftedGenCheckpoint({ triggerWord: "knife" });
  assert.equal(other.trigger.word, "knife");
  assert.notEqual(other.trigger.tokenId, trigger.tokenId);
  assert.throws(() => craftedGenCheckpoint({ triggerWord: "kaboomzz" }), SynthError);
});
