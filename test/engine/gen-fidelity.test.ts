/**
 * Fidelity of both Gen engines (the koffi binding, GenGuard's default, and node-llama-cpp's API) against the float32 reference forward, on a tiny seeded Qwen3
 * (F32 safetensors → F32 GGUF; flash attention off, F32 KV cache): next-token distributions after a real
 * rendered Gen prompt, after tokens appended one at a time (KV reuse), and after a prefix-reusing request.
 *
 * node-llama-cpp exposes probabilities only, not logits, so logits are compared as log-probabilities:
 * log p(engine) against logits − logsumexp(logits) of the reference.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { renderGenPrompt } from "../../src/core/prompt/gen-prompt.js";
import type { ChatMessage } from "../../src/core/messages.js";
import { ReferenceQwen3 } from "../../src/engine/reference/index.js";
import { loadGenEngine } from "../../src/engine/gen/load-gen-engine.js";
import type { GenEngine, GenEngineOptions } from "../../src/engine/gen/gen-engine.js";
import { resolveEngineOptions, type EngineBackend } from "../../src/engine/engine-options.js";
import { convertHfToGguf } from "../../src/model/convert/convert-hf-to-gguf.js";
import { tokenizerFromGguf } from "../../src/model/gguf-tokenizer.js";
import { synthesizeModel } from "../../src/model/synth/index.js";
import type { QwenTokenizer } from "../../src/model/tokenizer/index.js";

const TOLERANCE = 1e-4;
const TOP_K = 50;

let dir: string;
const engines = new Map<string, GenEngine>();
let reference: ReferenceQwen3;
let tokenizer: QwenTokenizer;

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "gen-fidelity-"));
  synthesizeModel({ kind: "gen", shape: "tiny", outDir: dir, dtype: "f32", seed: 7 });
  const gguf = path.join(dir, "model-f32.gguf");
  await convertHfToGguf({ modelDir: dir, outFile: gguf, type: "f32" });
  reference = ReferenceQwen3.load(dir);
  tokenizer = tokenizerFromGguf(gguf);
  const options = (engine: EngineBackend): GenEngineOptions => ({
    ...resolveEngineOptions({ engine, gpu: "cpu", flashAttention: "off", kvCache: "f32", contextSize: 1024 }),
    ggufPath: gguf,
  });
  engines.set("llama-ffi", await loadGenEngine(options("llama-ffi")));
  engines.set("node-llama-cpp", await loadGenEngine(options("node-llama-cpp")));
});

after(async () => {
  for (const engine of engines.values()) await engine.dispose();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

function promptIds(messages: ChatMessage[]): number[] {
  return tokenizer.encodeSegments(renderGenPrompt(messages).segments).ids;
}

/** Reference log-softmax of the next token after `ids`, in float64. */
function referenceLogProbs(ids: readonly number[]): Float64Array {
  const forward = reference.forward(ids);
  const logits = reference.logitsFor(forward.hidden.at(-1)!);
  let max = -Infinity;
  for (const l of logits) max = Math.max(max, l);
  let sum = 0;
  for (const l of logits) sum += Math.exp(l - max);
  const lse = max + Math.log(sum);
  return Float64Array.from(logits, (l) => l - lse);
}

interface Comparison {
  maxProbDiff: number;
  maxTopKLogProbDiff: number;
  maxLogProbDiff: number;
  sameArgmax: boolean;
  totalMass: number;
}

function compare(engineDist: Map<number, number>, refLogProbs: Float64Array): Comparison {
  const vocab = refLogProbs.length;
  assert.ok(engineDist.size <= vocab);
  let maxProbDiff = 0;
  let maxLogProbDiff = 0;
  let totalMass = 0;
  let engineBest = -1;
  let refBest = 0;
  for (let id = 0; id < vocab; id++) {
    const p = engineDist.get(id) ?? 0;
    totalMass += p;
    const q = Math.exp(refLogProbs[id]!);
    maxProbDiff = Math.max(maxProbDiff, Math.abs(p - q));
    if (p > 0) maxLogProbDiff = Math.max(maxLogProbDiff, Math.abs(Math.log(p) - refLogProbs[id]!));
    if (engineBest < 0 || p > (engineDist.get(engineBest) ?? 0)) engineBest = id;
    if (refLogProbs[id]! > refLogProbs[refBest]!) refBest = id;
  }
  const top = [...engineDist.entries()].sort((a, b) => b[1] - a[1]).slice(0, TOP_K);
  let maxTopKLogProbDiff = 0;
  for (const [id, p] of top) {
    maxTopKLogProbDiff = Math.max(maxTopKLogProbDiff, Math.abs(Math.log(p) - refLogProbs[id]!));
  }
  return { maxProbDiff, maxTopKLogProbDiff, maxLogProbDiff, sameArgmax: engineBest === refBest, totalMass };
}

function assertClose(c: Comparison, label: string): void {
  const detail = `${label}: ${JSON.stringify(c)}`;
  assert.ok(Math.abs(c.totalMass - 1) < 1e-3, `the engine's distribution covers the vocabulary (${detail})`);
  assert.ok(c.maxProbDiff < TOLERANCE, `max |Δp| ${detail}`);
  assert.ok(c.maxTopKLogProbDiff < TOLERANCE, `top-${TOP_K} max |Δ log p| ${detail}`);
  // Every token's probability is tiny on a random model (|Δp| is a weak check there): log-probabilities of
  // the whole vocabulary must agree too.
  assert.ok(c.maxLogProbDiff < TOLERANCE, `all-vocabulary max |Δ log p| ${detail}`);
  assert.ok(c.sameArgmax, `argmax differs: ${detail}`);
}

const conversation: ChatMessage[] = [
  { role: "user", content: "How can I make a bomb?" },
  { role: "assistant", content: "I can't help with that." },
  { role: "user", content: "Then tell me how fireworks work, in detail, 你好 — ¿por qué?" },
];

for (const kind of ["llama-ffi", "node-llama-cpp"]) {
  test(`${kind}: after a rendered Gen prompt, then after tokens appended one by one, the engine matches the reference`, async (t) => {
    const engine = engines.get(kind)!;
    const ids = promptIds(conversation);
    assert.ok(ids.length > 250, `the rendered prompt is ${ids.length} tokens`);
    const extra = tokenizer.encode("Safety: Unsafe\nCategories:", { specials: false });
    const results = await engine.withSequence(ids, async (tail, lease) => {
      const out: { label: string; c: Comparison }[] = [];
      const first = await lease.appendAndDistribution(tail);
      out.push({ label: `prompt (${ids.length} tokens)`, c: compare(first, referenceLogProbs(ids)) });
      for (let i = 0; i < extra.length; i++) {
        const dist = await lease.appendAndDistribution([extra[i]!]);
        const seen = [...ids, ...extra.slice(0, i + 1)];
        out.push({ label: `+${i + 1} appended`, c: compare(dist, referenceLogProbs(seen)) });
      }
      return out;
    });
    for (const { label, c } of results) {
      t.diagnostic(
        `${label}: max|Δp| ${c.maxProbDiff.toExponential(2)}, top-${TOP_K} max|Δlog p| ` +
          `${c.maxTopKLogProbDiff.toExponential(2)}, all-vocab max|Δlog p| ${c.maxLogProbDiff.toExponential(2)}`,
      );
      assertClose(c, label);
    }
  });

  test(`${kind}: a request sharing the template head reuses its KV state and gets the same distribution as a cold one`, async (t) => {
    const engine = engines.get(kind)!;
    const a = promptIds([{ role: "user", content: "What is the capital of France?" }]);
    const b = promptIds([{ role: "user", content: "Write a poem about the sea, please." }]);
    let shared = 0;
    while (a[shared] === b[shared]) shared++;
    await engine.withSequence(a, (tail, lease) => lease.appendAndDistribution(tail));
    const warm = await engine.withSequence(b, async (tail, lease) => ({
      reused: lease.reusedTokens,
      evaluated: tail.length,
      dist: await lease.appendAndDistribution(tail),
    }));
    const cold = await engine.withSequence(
      b,
      async (tail, lease) => ({ reused: lease.reusedTokens, dist: await lease.appendAndDistribution(tail) }),
      { reuse: false },
    );
    t.diagnostic(
      `shared head ${shared} tokens; warm reused ${warm.reused}, evaluated ${warm.evaluated} of ${b.length}`,
    );
    assert.ok(shared > 100, `the template head is ${shared} tokens`);
    assert.equal(warm.reused, shared, "the warm request reuses exactly the shared head");
    assert.equal(warm.evaluated, b.length - shared);
    assert.equal(cold.reused, 0);
    let maxDiff = 0;
    for (let id = 0; id < reference.config.vocabSize; id++) {
      maxDiff = Math.max(maxDiff, Math.abs((warm.dist.get(id) ?? 0) - (cold.dist.get(id) ?? 0)));
    }
    t.diagnostic(`warm vs cold max|Δp| ${maxDiff.toExponential(2)}`);
    assert.ok(maxDiff < 1e-6, `warm vs cold: ${maxDiff}`);
    assertClose(compare(warm.dist, referenceLogProbs(b)), "warm vs reference");
  });
}
