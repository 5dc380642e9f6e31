/**
 * The decisive check: llama.cpp (node-llama-cpp 3.21.1, CPU, prebuilt) loads GGUFs written by our converter,
 * tokenizes like the Hugging Face tokenizer, and computes the same next-token distribution as the float32
 * reference forward pass over the original safetensors.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { getLlama, LlamaLogLevel, type Llama, type LlamaModel, type Token } from "node-llama-cpp";
import { convertHfToGguf } from "../../src/model/convert/convert-hf-to-gguf.js";
import { synthesizeModel } from "../../src/model/synth/index.js";
import { ReferenceQwen3 } from "../../src/engine/reference/qwen3.js";

let root: string;
let modelDir: string;
let llama: Llama;
const threads = os.availableParallelism();

before(async () => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), "q3g-llama-"));
  modelDir = path.join(root, "tiny-gen");
  synthesizeModel({ kind: "gen", shape: "tiny", outDir: modelDir, dtype: "bf16", seed: 5 });
  llama = await getLlama({ gpu: false, build: "never", maxThreads: threads, logLevel: LlamaLogLevel.error });
});

after(async () => {
  await llama?.dispose();
  fs.rmSync(root, { recursive: true, force: true });
});

/** Next-token probabilities over the whole vocabulary after `ids`, from llama.cpp. */
async function llamaNextProbs(model: LlamaModel, ids: Token[]): Promise<Map<Token, number>> {
  const context = await model.createContext({
    contextSize: 64,
    threads,
    flashAttention: false,
    experimentalKvCacheKeyType: "F32",
    experimentalKvCacheValueType: "F32",
  });
  try {
    const seq = context.getSequence();
    const items = [...ids.slice(0, -1), [ids.at(-1)!, { generateNext: { probabilities: true } }] as const];
    const result = await seq.controlledEvaluate(items as Parameters<typeof seq.controlledEvaluate>[0]);
    const probs = result.at(-1)?.next?.probabilities;
    assert.ok(probs, "llama.cpp returned no probabilities");
    return probs;
  } finally {
    await context.dispose();
  }
}

function logSoftmax(logits: Float32Array): Float64Array {
  let max = -Infinity;
  for (const v of logits) max = Math.max(max, v);
  let sum = 0;
  for (const v of logits) sum += Math.exp(v - max);
  const lse = max + Math.log(sum);
  return Float64Array.from(logits, (v) => v - lse);
}

/** Largest |log p_llama − log p_ref| over the reference's 50 most likely tokens. */
function topLogProbGap(probs: Map<Token, number>, refLog: Float64Array): number {
  const top = Array.from(refLog.keys())
    .sort((a, b) => refLog[b]! - refLog[a]!)
    .slice(0, 50);
  return Math.max(...top.map((id) => Math.abs(Math.log(probs.get(id as Token) ?? 0) - refLog[id]!)));
}

test("llama.cpp loads the F32 and Q8_0 GGUFs, tokenizes like tokenizer.json, and matches the reference", async () => {
  const f32 = path.join(root, "tiny-f32.gguf");
  const q8 = path.join(root, "tiny-q8_0.gguf");
  await convertHfToGguf({ modelDir, outFile: f32, type: "f32" });
  await convertHfToGguf({ modelDir, outFile: q8, type: "q8_0" });

  const model = await llama.loadModel({ modelPath: f32 });
  let ids: Token[];
  let probsF32: Map<Token, number>;
  try {
    // Known ids of the Qwen3 tokenizer (measured with Hugging Face's tokenizer).
    assert.deepEqual(model.tokenize(" Safe", false), [22291]);
    assert.deepEqual(model.tokenize(" Unsafe", false), [73067]);
    assert.deepEqual(model.tokenize("Safety:", false), [73037, 25]);
    assert.deepEqual(model.tokenize(" Controversial", false), [2093, 12563, 530]);
    // Special tokens stay text without special parsing; <think> is USER_DEFINED and always parsed.
    assert.deepEqual(model.tokenize("<|im_start|>", false), [27, 91, 318, 4906, 91, 29]);
    assert.deepEqual(model.tokenize("<|im_start|>user", true), [151644, 872]);
    assert.deepEqual(model.tokenize("<think>\n\n</think>", false), [151667, 271, 151668]);
    assert.equal(model.tokens.eos, 151645);
    assert.equal(model.tokens.bos, 151643);

    ids = model.tokenize("Safety: Unsafe\nCategories: Violent", false);
    probsF32 = await llamaNextProbs(model, ids);
    assert.equal(probsF32.size, 151936, "distribution over the whole padded vocabulary");
  } finally {
    await model.dispose();
  }

  const refLog = logSoftmax(ReferenceQwen3.load(modelDir).nextTokenLogits(ids));
  let refArgmax = 0;
  for (let i = 1; i < refLog.length; i++) if (refLog[i]! > refLog[refArgmax]!) refArgmax = i;
  let llamaArgmax = -1;
  let best = -1;
  for (const [id, p] of probsF32) if (p > best) [best, llamaArgmax] = [p, id];
  assert.equal(llamaArgmax, refArgmax, "F32: same most likely next token");
  const gapF32 = topLogProbGap(probsF32, refLog);
  assert.ok(gapF32 < 1e-3, `F32: log-prob gap ${gapF32}`);

  const modelQ8 = await llama.loadModel({ modelPath: q8 });
  try {
    const probsQ8 = await llamaNextProbs(modelQ8, ids);
    const gapQ8 = topLogProbGap(probsQ8, refLog);
    // Q8_0 weights and llama.cpp's Q8 activations: small but visible; a wrong block layout gives O(1) gaps.
    assert.ok(gapQ8 < 0.3, `Q8_0: log-prob gap ${gapQ8}`);
    console.log(
      `log-prob gap vs reference over the top 50 tokens: F32 ${gapF32.toExponential(2)}, Q8_0 ${gapQ8.toExponential(2)}`,
    );
  } finally {
    await modelQ8.dispose();
  }
});
