import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { HfConfigError, loadHfConfig, parseHfConfig } from "../../src/model/hf-config.js";

/** Fields of the official Qwen3-0.6B config.json (Qwen3Guard-Gen-0.6B shares its backbone). */
function qwen3Config(): Record<string, unknown> {
  return {
    architectures: ["Qwen3ForCausalLM"],
    attention_bias: false,
    attention_dropout: 0.0,
    bos_token_id: 151643,
    eos_token_id: 151645,
    head_dim: 128,
    hidden_act: "silu",
    hidden_size: 1024,
    initializer_range: 0.02,
    intermediate_size: 3072,
    max_position_embeddings: 40960,
    max_window_layers: 28,
    model_type: "qwen3",
    num_attention_heads: 16,
    num_hidden_layers: 28,
    num_key_value_heads: 8,
    rms_norm_eps: 1e-6,
    rope_scaling: null,
    rope_theta: 1000000,
    sliding_window: null,
    tie_word_embeddings: true,
    torch_dtype: "bfloat16",
    use_cache: true,
    use_sliding_window: false,
    vocab_size: 151936,
  };
}

function guardConfig(): Record<string, unknown> {
  return {
    ...qwen3Config(),
    architectures: ["Qwen3ForGuardModel"],
    guard_inner_size: 512,
    num_risk_level: 3,
    num_category: 3,
    num_query_risk_level: 3,
    num_query_category: 4,
    // Deliberately out of key order: the index, not the JSON order, decides.
    response_risk_level_map: { "2": "Controversial", "0": "Safe", "1": "Unsafe" },
    response_category_map: { "0": "Violent", "1": "PII", "2": "Unethical Acts" },
    query_risk_level_map: { "0": "Safe", "1": "Unsafe", "2": "Controversial" },
    query_category_map: { "0": "Violent", "1": "PII", "2": "Unethical Acts", "3": "Jailbreak" },
  };
}

function expectError(fn: () => unknown, field: string | undefined, pattern: RegExp): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof HfConfigError, `expected HfConfigError, got ${String(error)}`);
    assert.equal(error.field, field);
    assert.match(error.message, pattern);
    return true;
  });
}

test("a Qwen3ForCausalLM config is read field by field", () => {
  const c = parseHfConfig(qwen3Config());
  assert.equal(c.architecture, "Qwen3ForCausalLM");
  assert.equal(c.hiddenSize, 1024);
  assert.equal(c.numHiddenLayers, 28);
  assert.equal(c.numAttentionHeads, 16);
  assert.equal(c.numKeyValueHeads, 8);
  assert.equal(c.headDim, 128);
  assert.equal(c.intermediateSize, 3072);
  assert.equal(c.vocabSize, 151936);
  assert.equal(c.rmsNormEps, 1e-6);
  assert.equal(c.ropeTheta, 1000000);
  assert.equal(c.maxPositionEmbeddings, 40960);
  assert.equal(c.tieWordEmbeddings, true);
  assert.equal(c.torchDtype, "bfloat16");
  assert.equal(c.guard, undefined);
});

test("values come from the file, not from built-in defaults", () => {
  const c = parseHfConfig({ ...qwen3Config(), rope_theta: 5e5, rms_norm_eps: 1e-5, head_dim: 96 });
  assert.equal(c.ropeTheta, 5e5);
  assert.equal(c.rmsNormEps, 1e-5);
  assert.equal(c.headDim, 96);
});

test("head_dim defaults to hidden/heads only when absent, and newer `dtype` is accepted", () => {
  const json = qwen3Config();
  delete json.head_dim;
  delete json.torch_dtype;
  json.dtype = "float32";
  const c = parseHfConfig(json);
  assert.equal(c.headDim, 1024 / 16);
  assert.equal(c.torchDtype, "float32");
});

test("a Qwen3ForGuardModel config yields head sizes and label names ordered by index", () => {
  const c = parseHfConfig(guardConfig());
  assert.ok(c.guard);
  assert.equal(c.guard.innerSize, 512);
  assert.deepEqual(c.guard.responseRiskLevels, ["Safe", "Unsafe", "Controversial"]);
  assert.deepEqual(c.guard.responseCategories, ["Violent", "PII", "Unethical Acts"]);
  assert.deepEqual(c.guard.queryCategories, ["Violent", "PII", "Unethical Acts", "Jailbreak"]);
  assert.equal(c.guard.numQueryCategory, 4);
});

test("label maps may also be plain arrays", () => {
  const c = parseHfConfig({ ...guardConfig(), response_category_map: ["A", "B", "C"] });
  assert.deepEqual(c.guard?.responseCategories, ["A", "B", "C"]);
});

test("errors name the file and the field", () => {
  const missing = qwen3Config();
  delete missing.rope_theta;
  expectError(
    () => parseHfConfig(missing, "/m/config.json"),
    "rope_theta",
    /\/m\/config\.json: field "rope_theta"/,
  );
  expectError(() => parseHfConfig({ ...qwen3Config(), hidden_size: "1024" }), "hidden_size", /hidden_size/);
  expectError(
    () => parseHfConfig({ ...qwen3Config(), architectures: ["LlamaForCausalLM"] }),
    "architectures",
    /LlamaForCausalLM/,
  );
  expectError(
    () => parseHfConfig({ ...qwen3Config(), num_key_value_heads: 3 }),
    "num_key_value_heads",
    /divide/,
  );
  expectError(
    () => parseHfConfig({ ...qwen3Config(), attention_bias: true }),
    "attention_bias",
    /not supported/,
  );
});

test("guard configs must carry consistent head sizes and maps", () => {
  const noMap = guardConfig();
  delete noMap.query_category_map;
  expectError(() => parseHfConfig(noMap), "query_category_map", /config\.json/);
  expectError(
    () => parseHfConfig({ ...guardConfig(), num_category: 8 }),
    "response_category_map",
    /3 labels but the head has 8 classes/,
  );
  expectError(
    () =>
      parseHfConfig({ ...guardConfig(), response_risk_level_map: { "0": "Safe", "1": "Unsafe", "3": "X" } }),
    "response_risk_level_map",
    /class indices/,
  );
});

test("loadHfConfig reads a folder's config.json and reports unreadable files by path", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "hfcfg-"));
  try {
    fs.writeFileSync(path.join(dir, "config.json"), JSON.stringify(guardConfig()));
    assert.equal(loadHfConfig(dir).guard?.numQueryRiskLevel, 3);
    assert.equal(loadHfConfig(path.join(dir, "config.json")).hiddenSize, 1024);
    fs.writeFileSync(path.join(dir, "config.json"), "{ not json");
    expectError(() => loadHfConfig(dir), undefined, /config\.json: is not valid JSON/);
    const empty = path.join(dir, "empty");
    fs.mkdirSync(empty);
    expectError(() => loadHfConfig(empty), undefined, /empty\/config\.json: cannot be read/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
