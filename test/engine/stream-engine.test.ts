/**
 * The Stream building blocks: JS heads vs the reference heads, heads/labels read from the checkpoint (never
 * hard-coded), asset errors, an untied Stream checkpoint without lm_head converting to a backbone llama.cpp loads,
 * and both hidden-state engines agreeing with the reference across chunks, sequences and rollback.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import {
  synthesizeModel,
  synthConfigJson,
  checkpointTensors,
  synthTensorValues,
  writeCheckpointFolder,
  LM_HEAD,
  STREAM_HEAD_TENSORS,
} from "../../src/model/synth/index.js";
import { parseHfConfig, loadHfConfig } from "../../src/model/hf-config.js";
import { ReferenceQwen3, ReferenceStreamHeads } from "../../src/engine/reference/index.js";
import { StreamHeads, loadHiddenStateEngine, type HiddenStateEngine } from "../../src/engine/stream/index.js";
import {
  loadStreamHeadWeights,
  prepareStreamAssets,
  StreamAssetsError,
} from "../../src/model/stream-assets.js";
import { convertHfToGguf } from "../../src/model/convert/convert-hf-to-gguf.js";
import { ModelKindError } from "../../src/model/model-kind.js";
import { SafetensorsFile, writeSafetensors } from "../../src/model/safetensors.js";
import { SeededRandom } from "../../src/model/synth/prng.js";
import { tempDir } from "../guard/stream-fixture.js";
import { resolveEngineOptions } from "../../src/engine/engine-options.js";

let tmp: ReturnType<typeof tempDir>;
let modelDir: string;

before(() => {
  tmp = tempDir("stream-engine-");
  modelDir = path.join(tmp.dir, "tiny");
  synthesizeModel({ kind: "stream", shape: "tiny", outDir: modelDir, dtype: "bf16", seed: 21 });
});

after(() => tmp?.cleanup());

function maxAbs(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

function randomHidden(n: number, seed: number): Float32Array {
  return new SeededRandom(seed).fillNormal(new Float32Array(n), 3);
}

test("the JS heads equal the reference heads on both paths (bf16 checkpoint read as float32)", () => {
  const config = loadHfConfig(modelDir);
  const heads = new StreamHeads(loadStreamHeadWeights(modelDir, config));
  const reference = ReferenceStreamHeads.load(modelDir);
  for (let k = 0; k < 20; k++) {
    const h = randomHidden(config.hiddenSize, k + 1);
    const ref = reference.apply(h);
    for (const p of ["response", "query"] as const) {
      const s = heads.apply(h, p);
      assert.ok(maxAbs(s.riskProbs, ref[p].risk.probs) < 1e-6);
      assert.ok(maxAbs(s.categoryProbs, ref[p].category.probs) < 1e-6);
      assert.equal(s.category, ref[p].category.label);
      assert.equal(s.tier, ref[p].risk.label);
    }
  }
});

test("label names and their order come from config.json", () => {
  const dir = path.join(tmp.dir, "reordered");
  const json = synthConfigJson({ kind: "stream", shape: "tiny", dtype: "f32" });
  json.response_risk_level_map = { "0": "Unsafe", "1": "Controversial", "2": "Safe" };
  const cats = Object.values(json.response_category_map as Record<string, string>).reverse();
  json.response_category_map = Object.fromEntries(cats.map((c, i) => [String(i), c]));
  const specs = checkpointTensors(parseHfConfig(json));
  writeCheckpointFolder({
    outDir: dir,
    configJson: json,
    sources: specs.map((spec) => ({ spec, values: () => synthTensorValues(spec, 4) })),
    dtype: "f32",
    withTokenizer: false,
  });
  const config = loadHfConfig(dir);
  const weights = loadStreamHeadWeights(dir, config);
  assert.deepEqual(weights.response.riskTiers, ["Unsafe", "Controversial", "Safe"]);
  const heads = new StreamHeads(weights);
  const h = randomHidden(config.hiddenSize, 99);
  const s = heads.apply(h, "response");
  assert.equal(s.probabilities.Unsafe, s.riskProbs[0]);
  assert.equal(s.probabilities.Safe, s.riskProbs[2]);
  assert.equal(s.category, cats[s.categoryIndex]);

  json.response_risk_level_map = { "0": "Low", "1": "Unsafe", "2": "Controversial" };
  assert.throws(() => loadStreamHeadWeights(dir, parseHfConfig(json)), /needs the risk labels/);
  const bigger = {
    ...json,
    response_risk_level_map: { "0": "Safe", "1": "Unsafe", "2": "Controversial" },
    guard_inner_size: 16,
  };
  assert.throws(
    () => loadStreamHeadWeights(dir, parseHfConfig(bigger)),
    (e) => e instanceof StreamAssetsError && /shape/.test(e.message),
  );
});

test("assets: a GGUF needs heads; a Gen folder is refused; GGUF + heads folder works", async () => {
  const gguf = path.join(tmp.dir, "backbone.gguf");
  const converted = await convertHfToGguf({ modelDir, outFile: gguf, type: "f32" });
  for (const name of Object.values(STREAM_HEAD_TENSORS).flatMap((p) => Object.values(p))) {
    assert.ok(converted.skippedTensors.includes(name), `${name} stays out of the GGUF`);
  }
  await assert.rejects(
    prepareStreamAssets(gguf),
    (e) => e instanceof StreamAssetsError && /--heads/.test(e.message),
  );
  const assets = await prepareStreamAssets(gguf, { heads: modelDir });
  assert.equal(assets.gguf, "given");
  assert.equal(assets.heads.response.categoryLabels.length, 8);
  assert.equal(assets.heads.query.categoryLabels.at(-1), "Jailbreak");
  const alone = path.join(tmp.dir, "heads-only");
  fs.mkdirSync(alone);
  fs.copyFileSync(path.join(modelDir, "model.safetensors"), path.join(alone, "heads.safetensors"));
  await assert.rejects(
    prepareStreamAssets(gguf, { heads: path.join(alone, "heads.safetensors") }),
    /config\.json/,
  );
  const genDir = path.join(tmp.dir, "gen");
  synthesizeModel({ kind: "gen", shape: "tiny", outDir: genDir, dtype: "bf16", seed: 1 });
  await assert.rejects(
    prepareStreamAssets(genDir),
    (e) => e instanceof ModelKindError && /not a Qwen3Guard-Stream/.test(e.message),
  );
});

test("engines: an untied Stream checkpoint without lm_head converts and loads; both engines match the reference over chunks, sequences and rollback", async () => {
  // untied Stream checkpoint that stores no lm_head.weight
  const dir = path.join(tmp.dir, "untied");
  synthesizeModel({
    kind: "stream",
    shape: "tiny",
    outDir: dir,
    dtype: "f32",
    seed: 8,
    tieEmbeddings: false,
  });
  const file = path.join(dir, "model.safetensors");
  const st = SafetensorsFile.open(file);
  const keep = [...st.tensors.keys()].filter((n) => n !== LM_HEAD);
  const tensors = keep.map((name) => ({
    name,
    dtype: "F32" as const,
    shape: st.info(name).shape,
    values: () => st.readFloat32(name),
  }));
  writeSafetensors(file + ".new", tensors);
  st.close();
  fs.renameSync(file + ".new", file);
  const gguf = path.join(tmp.dir, "untied.gguf");
  const converted = await convertHfToGguf({ modelDir: dir, outFile: gguf, type: "f32" });
  assert.equal(converted.tensorTypes["output.weight"], undefined, "no output.weight");

  // the reference needs an LM head for untied configs: feed it the tensors with lm_head = embeddings (unused)
  const config = loadHfConfig(dir);
  const map = new Map<string, Float32Array>();
  const st2 = SafetensorsFile.open(file);
  for (const n of st2.tensors.keys()) map.set(n, st2.readFloat32(n));
  st2.close();
  map.set(LM_HEAD, map.get("model.embed_tokens.weight")!);
  const reference = ReferenceQwen3.fromTensors(config, map);
  const a = Array.from({ length: 20 }, (_, i) => (i * 7919 + 17) % 151000);
  const b = Array.from({ length: 9 }, (_, i) => (i * 104729 + 5) % 151000);
  const refA = reference.forward(a).hidden;
  const refB = reference.forward(b).hidden;

  const results: Float32Array[][] = [];
  for (const kind of ["llama-ffi", "node-llama-cpp"] as const) {
    const engine: HiddenStateEngine = await loadHiddenStateEngine({
      ...resolveEngineOptions({
        engine: kind,
        sequences: 2,
        contextSize: 256,
        kvCache: "f32",
        flashAttention: "off",
        threads: 1,
        logger: () => {},
      }),
      ggufPath: gguf,
    });
    try {
      assert.equal(engine.kind, kind);
      assert.equal(engine.hiddenSize, config.hiddenSize);
      await engine.open(0);
      await engine.open(1);
      const [a1, b1] = await engine.decode([
        { seq: 0, tokens: a.slice(0, 12) },
        { seq: 1, tokens: b },
      ]);
      const [a2] = await engine.decode([{ seq: 0, tokens: a.slice(12) }]);
      const gotA = [...a1!, ...a2!];
      assert.ok(Math.max(...gotA.map((h, i) => maxAbs(h, refA[i]!))) < 1e-4, `${kind}: sequence 0`);
      assert.ok(Math.max(...b1!.map((h, i) => maxAbs(h, refB[i]!))) < 1e-4, `${kind}: sequence 1`);
      await engine.rollback(0, 15);
      const [again] = await engine.decode([{ seq: 0, tokens: a.slice(15) }]);
      assert.ok(
        Math.max(...again!.map((h, i) => maxAbs(h, refA[15 + i]!))) < 1e-4,
        `${kind}: after rollback`,
      );
      await engine.close(0);
      await engine.open(0);
      const [fresh] = await engine.decode([{ seq: 0, tokens: b.slice(0, 3) }]);
      assert.ok(Math.max(...fresh!.map((h, i) => maxAbs(h, refB[i]!))) < 1e-4, `${kind}: reopened sequence`);
      results.push(gotA);
    } finally {
      await engine.dispose();
    }
  }
  assert.ok(
    Math.max(...results[0]!.map((h, i) => maxAbs(h, results[1]![i]!))) < 1e-5,
    "the two engines agree",
  );
});

test("node-llama-cpp engine: a sequence holds all contextSize positions without shifting the context", async () => {
  // node-llama-cpp shifts (erases the start of) a sequence that reaches its context size minus one; the Stream
  // session lets a sequence fill every position of contextSize, so the last one must still see the whole prefix
  const gguf = path.join(tmp.dir, "full-context.gguf");
  await convertHfToGguf({ modelDir, outFile: gguf, type: "f32" });
  const ids = Array.from({ length: 256 }, (_, i) => (i * 7919 + 17) % 151000);
  const reference = ReferenceQwen3.load(modelDir).forward(ids).hidden;
  const engine = await loadHiddenStateEngine({
    ...resolveEngineOptions({
      engine: "node-llama-cpp",
      sequences: 1,
      contextSize: 256,
      kvCache: "f32",
      flashAttention: "off",
      threads: 1,
      logger: () => {},
    }),
    ggufPath: gguf,
  });
  try {
    assert.equal(engine.contextSize, 256);
    await engine.open(0);
    const [head] = await engine.decode([{ seq: 0, tokens: ids.slice(0, 255) }]);
    const [last] = await engine.decode([{ seq: 0, tokens: ids.slice(255) }]);
    const got = [...head!, ...last!];
    assert.equal(got.length, 256);
    assert.ok(maxAbs(got[255]!, reference[255]!) < 1e-4, "the last position still sees the whole prefix");
  } finally {
    await engine.dispose();
  }
});
