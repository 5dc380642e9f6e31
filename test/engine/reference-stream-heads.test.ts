import { test, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { loadHfConfig } from "../../src/model/hf-config.js";
import { synthesizeModel, writeModelFolder, STREAM_LABEL_MAPS } from "../../src/model/synth/index.js";
import { SafetensorsFile } from "../../src/model/safetensors.js";
import {
  ReferenceQwen3,
  ReferenceStreamHeads,
  ReferenceWeightsError,
  matVec,
  rmsNorm,
} from "../../src/engine/reference/index.js";

const root = fs.mkdtempSync(path.join(os.tmpdir(), "ref-heads-"));
after(() => fs.rmSync(root, { recursive: true, force: true }));

function close(actual: ArrayLike<number>, expected: readonly number[], tol = 1e-6): void {
  assert.equal(actual.length, expected.length);
  for (let i = 0; i < expected.length; i++) {
    assert.ok(Math.abs(actual[i]! - expected[i]!) <= tol, `[${i}] ${actual[i]} vs ${expected[i]}`);
  }
}

function softmaxOf(v: number[]): number[] {
  const e = v.map((x) => Math.exp(x));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((x) => x / s);
}

/** hidden 2, inner 2, label names that are not the usual ones (so they must come from the config). */
const handConfig = {
  architectures: ["Qwen3ForGuardModel"],
  hidden_size: 2,
  num_hidden_layers: 1,
  num_attention_heads: 1,
  num_key_value_heads: 1,
  head_dim: 2,
  intermediate_size: 2,
  vocab_size: 4,
  rms_norm_eps: 1e-6,
  rope_theta: 10000,
  max_position_embeddings: 64,
  tie_word_embeddings: true,
  guard_inner_size: 2,
  num_risk_level: 3,
  num_category: 2,
  num_query_risk_level: 3,
  num_query_category: 3,
  response_risk_level_map: { "0": "Low", "1": "High", "2": "Mid" },
  response_category_map: { "0": "Cat-A", "1": "Cat-B" },
  query_risk_level_map: { "0": "Q-Safe", "1": "Q-Unsafe", "2": "Q-Controversial" },
  query_category_map: { "0": "Q-A", "1": "Q-B", "2": "Q-Jailbreak" },
};

test("heads on a known vector: pre-projection, inner RMSNorm, risk and category logits, labels from the maps", () => {
  const dir = path.join(root, "hand");
  writeModelFolder({
    outDir: dir,
    config: handConfig,
    dtype: "f32",
    withTokenizer: false,
    missing: "zeros",
    tensors: new Map([
      ["risk_level_category_pre.weight", Float32Array.of(1, 0, 0, 2)],
      ["risk_level_category_layernorm.weight", Float32Array.of(1, 0.5)],
      ["risk_level_head.weight", Float32Array.of(1, 0, 0, 1, 1, 1)],
      ["category_head.weight", Float32Array.of(1, -1, 0, 0)],
      ["query_risk_level_category_pre.weight", Float32Array.of(1, 0, 0, 1)],
      ["query_risk_level_category_layernorm.weight", Float32Array.of(2, 2)],
      ["query_risk_level_head.weight", Float32Array.of(0, 0, 1, 0, 0, 1)],
      ["query_category_head.weight", Float32Array.of(1, 0, 0, 1, -1, -1)],
    ]),
  });
  const heads = ReferenceStreamHeads.load(dir);
  const out = heads.apply(Float32Array.of(3, 4));

  // response: pre·h = [3, 8]; rms = sqrt((9 + 64)/2 + eps); x = [3/r, 8/r · 0.5]
  const r = Math.sqrt(73 / 2 + 1e-6);
  const x = [3 / r, 4 / r];
  const risk = [x[0]!, x[1]!, x[0]! + x[1]!];
  close(out.response.risk.logits, risk);
  close(out.response.risk.probs, softmaxOf(risk));
  assert.equal(out.response.risk.label, "Mid");
  assert.equal(out.response.risk.index, 2);
  assert.deepEqual(out.response.risk.labels, ["Low", "High", "Mid"]);
  close(out.response.category.logits, [x[0]! - x[1]!, 0]);
  assert.equal(out.response.category.label, "Cat-B");

  // query: pre·h = [3, 4]; rms = sqrt(12.5 + eps); x = [3/r, 4/r] · 2
  const rq = Math.sqrt(12.5 + 1e-6);
  const xq = [6 / rq, 8 / rq];
  close(out.query.risk.logits, [0, xq[0]!, xq[1]!]);
  assert.equal(out.query.risk.label, "Q-Controversial");
  close(out.query.category.logits, [xq[0]!, xq[1]!, -xq[0]! - xq[1]!]);
  assert.equal(out.query.category.label, "Q-B");
  assert.ok(Math.abs(out.query.category.prob - softmaxOf([xq[0]!, xq[1]!, -xq[0]! - xq[1]!])[1]!) < 1e-6);

  assert.throws(() => heads.apply(Float32Array.of(1, 2, 3)), RangeError);
});

test("a synthesized tiny Stream model: backbone + heads per position, labels from its config", () => {
  const dir = path.join(root, "tiny-stream");
  synthesizeModel({ kind: "stream", shape: "tiny", outDir: dir, seed: 21 });
  const backbone = ReferenceQwen3.load(dir);
  const heads = ReferenceStreamHeads.load(dir);
  const ids = [151644, 872, 198, 9707, 151645, 198];
  const hidden = backbone.forward(ids).hidden;
  const st = SafetensorsFile.open(path.join(dir, "model.safetensors"));
  const pre = st.readFloat32("query_risk_level_category_pre.weight");
  const norm = st.readFloat32("query_risk_level_category_layernorm.weight");
  const qrisk = st.readFloat32("query_risk_level_head.weight");
  st.close();
  const cfg = loadHfConfig(dir);
  for (const h of hidden) {
    const out = heads.apply(h);
    for (const head of [out.response.risk, out.response.category, out.query.risk, out.query.category]) {
      assert.ok(Math.abs(head.probs.reduce((a, b) => a + b, 0) - 1) < 1e-5);
      assert.equal(head.label, head.labels[head.index]);
    }
    assert.deepEqual(out.response.risk.labels, [...STREAM_LABEL_MAPS.response_risk_level_map]);
    assert.equal(out.query.category.logits.length, 9);
    // the query risk logits recomposed from the raw tensors
    const x = rmsNorm(matVec(pre, 32, 64, h), norm, cfg.rmsNormEps);
    close(out.query.risk.logits, [...matVec(qrisk, 3, 32, x)], 1e-5);
  }
});

test("a Gen (Qwen3ForCausalLM) folder has no Stream heads", () => {
  const dir = path.join(root, "gen");
  const config = { ...handConfig, architectures: ["Qwen3ForCausalLM"] };
  writeModelFolder({
    outDir: dir,
    config,
    dtype: "f32",
    withTokenizer: false,
    missing: "zeros",
    tensors: new Map(),
  });
  assert.throws(() => ReferenceStreamHeads.load(dir), ReferenceWeightsError);
});
