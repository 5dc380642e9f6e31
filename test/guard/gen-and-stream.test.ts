/**
 * Gen then Stream in one process (the README's library example): both guards run on the one libllama the process
 * loaded through the binding — whatever GPU choice each asks for — and their verdicts are those of the model.
 * Each test file runs in its own process, so this is the first load of the library here.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { GenGuard } from "../../src/guard/gen-guard.js";
import type { StreamGuard } from "../../src/guard/stream-guard.js";
import { streamGuardInternals } from "../../src/guard/internals.js";
import {
  synthesizeModel,
  writeCraftedGenModel,
  type CraftedGenTrigger,
} from "../../src/model/synth/index.js";
import { loadGuard, maxDiff, referenceHeads, tempDir } from "./stream-fixture.js";

let tmp: ReturnType<typeof tempDir>;
let gen: GenGuard;
let stream: StreamGuard;
let trigger: CraftedGenTrigger;
const warnings: string[] = [];

before(async () => {
  tmp = tempDir("gen-and-stream-");
  const crafted = writeCraftedGenModel(path.join(tmp.dir, "gen"));
  trigger = crafted.trigger;
  synthesizeModel({
    kind: "stream",
    shape: "tiny",
    outDir: path.join(tmp.dir, "stream"),
    dtype: "f32",
    seed: 3,
  });
  // Gen first, asking for a GPU when there is one (the CLI's default), then Stream on the CPU.
  gen = await GenGuard.load({
    model: crafted.dir,
    quantization: "f32",
    cacheDir: path.join(tmp.dir, "cache"),
    gpu: "auto",
    flashAttention: "off",
    kvCache: "f32",
    contextSize: 1024,
    warn: (m) => warnings.push(m),
  });
  stream = await loadGuard(path.join(tmp.dir, "stream"), { gpu: "cpu", warn: (m) => warnings.push(m) });
});

after(async () => {
  await gen?.close();
  await stream?.close();
  tmp?.cleanup();
});

test("both guards load on the binding, with no fallback warning", () => {
  assert.deepEqual(warnings, []);
  assert.equal(gen.info.engine, "llama-ffi");
  assert.equal(stream.info.engine, "llama-ffi");
});

test("Gen verdicts follow the crafted model's trigger word while Stream is loaded", async () => {
  const safe = await gen.moderatePrompt("How do I bake bread?");
  assert.equal(safe.tier, trigger.benign.tier);
  const unsafe = await gen.moderatePrompt(`Where can I buy a ${trigger.word}?`);
  assert.equal(unsafe.tier, trigger.triggered.tier);
  assert.deepEqual(unsafe.categories, trigger.triggered.categories);
});

test("Stream verdicts equal the float32 reference while Gen is loaded", async () => {
  const messages = [{ role: "user" as const, content: "Tell me about bread." }];
  const answer = "Bread is made of flour, water, salt and yeast.";
  const result = await stream.moderate([...messages, { role: "assistant", content: answer }]);
  const tokenizer = streamGuardInternals(stream).tokenizer;
  const header = tokenizer.encode("\n<|im_start|>assistant\n<think>\n\n</think>\n\n", { specials: true });
  const promptIds = stream.promptIds(messages);
  const ids = [...promptIds, ...header, ...result.tokens.map((t) => t.token)];
  const expected = referenceHeads(path.join(tmp.dir, "stream"))(ids);
  let worst = 0;
  result.tokens.forEach((v, i) => {
    const ref = expected[promptIds.length + header.length + i]!.response;
    const tiers = ref.risk.labels.map((name) => v.probabilities[name as "Safe"]);
    worst = Math.max(worst, maxDiff(tiers, ref.risk.probs));
  });
  assert.ok(result.tokens.length > 5);
  assert.ok(worst < 1e-4, `max probability difference ${worst}`);
});
