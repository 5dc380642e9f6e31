import { test, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseHfConfig } from "../../src/model/hf-config.js";
import { writeSafetensors } from "../../src/model/safetensors.js";
import {
  SeededRandom,
  checkpointTensors,
  synthesizeModel,
  writeModelFolder,
} from "../../src/model/synth/index.js";
import { ReferenceQwen3, ReferenceWeightsError, rmsNorm } from "../../src/engine/reference/index.js";

const root = fs.mkdtempSync(path.join(os.tmpdir(), "ref-qwen3-"));
after(() => fs.rmSync(root, { recursive: true, force: true }));

interface ToyShape {
  hidden: number;
  layers: number;
  heads: number;
  kv: number;
  headDim: number;
  ffn: number;
  vocab: number;
  tied?: boolean;
  ropeTheta?: number;
}

function toyConfig(s: ToyShape): Record<string, unknown> {
  return {
    architectures: ["Qwen3ForCausalLM"],
    hidden_size: s.hidden,
    num_hidden_layers: s.layers,
    num_attention_heads: s.heads,
    num_key_value_heads: s.kv,
    head_dim: s.headDim,
    intermediate_size: s.ffn,
    vocab_size: s.vocab,
    rms_norm_eps: 1e-6,
    rope_theta: s.ropeTheta ?? 10000,
    max_position_embeddings: 256,
    tie_word_embeddings: s.tied ?? true,
  };
}

/** Every tensor of the config filled with seeded random values (norms around 1). */
function randomTensors(config: Record<string, unknown>, seed: number): Map<string, Float32Array> {
  const rng = new SeededRandom(seed);
  const m = new Map<string, Float32Array>();
  for (const spec of checkpointTensors(parseHfConfig(config))) {
    const v = new Float32Array(spec.shape.reduce((a, b) => a * b, 1));
    m.set(spec.name, spec.role === "norm" ? rng.fillNormal(v, 0.1, 1) : rng.fillNormal(v, 0.5));
  }
  return m;
}

function model(config: Record<string, unknown>, tensors: Map<string, Float32Array>): ReferenceQwen3 {
  return ReferenceQwen3.fromTensors(parseHfConfig(config), tensors);
}

function close(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number, what = ""): void {
  assert.equal(actual.length, expected.length);
  for (let i = 0; i < expected.length; i++) {
    assert.ok(Math.abs(actual[i]! - expected[i]!) <= tol, `${what}[${i}] ${actual[i]} vs ${expected[i]}`);
  }
}

const rms2 = (a: number, b: number) => Math.sqrt((a * a + b * b) / 2 + 1e-6);
const sig = (x: number) => 1 / (1 + Math.exp(-x));

/**
 * hidden 2, one head of dim 2, ffn 1, vocab 3, all weights set by hand: layer norms are 1, q/k norms are not
 * (so a skipped q_norm/k_norm shows), q/k/v/o are simple matrices; every step is written out below.
 */
const handConfig = toyConfig({ hidden: 2, layers: 1, heads: 1, kv: 1, headDim: 2, ffn: 1, vocab: 3 });
function handTensors(): Map<string, Float32Array> {
  const p = "model.layers.0.";
  return new Map([
    ["model.embed_tokens.weight", Float32Array.of(3, 4, 1, 0, 0, 2)],
    [p + "input_layernorm.weight", Float32Array.of(1, 1)],
    [p + "self_attn.q_proj.weight", Float32Array.of(2, 0, 0, 1)],
    [p + "self_attn.k_proj.weight", Float32Array.of(0, 1, 1, 0)],
    [p + "self_attn.v_proj.weight", Float32Array.of(2, 0, 0, 1)],
    [p + "self_attn.o_proj.weight", Float32Array.of(0, 1, 1, 0)],
    [p + "self_attn.q_norm.weight", Float32Array.of(1.5, 0.5)],
    [p + "self_attn.k_norm.weight", Float32Array.of(1, 2)],
    [p + "post_attention_layernorm.weight", Float32Array.of(1, 1)],
    [p + "mlp.gate_proj.weight", Float32Array.of(1, 0)],
    [p + "mlp.up_proj.weight", Float32Array.of(0, 1)],
    [p + "mlp.down_proj.weight", Float32Array.of(1, 2)],
    ["model.norm.weight", Float32Array.of(1, 1)],
  ]);
}

/** The MLP block and final norm for a residual [a, b], written out. */
function mlpAndNorm(a: number, b: number): [number, number] {
  const r = rms2(a, b);
  const g = a / r; // gate picks the first component
  const u = b / r; // up picks the second
  const m = g * sig(g) * u;
  const [a2, b2] = [a + m, b + 2 * m];
  const f = rms2(a2, b2);
  return [a2 / f, b2 / f];
}

test("one token: attention is its v projection through o_proj (1-layer model, by hand)", () => {
  const m = model(handConfig, handTensors());
  const [x0, x1] = [3 / rms2(3, 4), 4 / rms2(3, 4)];
  const v = [2 * x0, x1]; // v_proj = diag(2, 1)
  const attn = [v[1]!, v[0]!]; // o_proj swaps
  const expected = mlpAndNorm(3 + attn[0]!, 4 + attn[1]!);
  const out = m.forward([0]);
  close(out.hidden[0]!, expected, 1e-6);
  // tied LM head: logits = embedding rows · hidden
  const h = out.hidden[0]!;
  close(out.logits(0), [3 * h[0]! + 4 * h[1]!, h[0]!, 2 * h[1]!], 1e-5);
  assert.deepEqual(m.nextTokenLogits([0]), out.logits(0));
});

test("two tokens: causal attention with q_norm/k_norm, RoPE at position 1 and 1/sqrt(head_dim), by hand", () => {
  const m = model(handConfig, handTensors());
  const e = [
    [1, 0],
    [0, 2],
  ]; // tokens 1 and 2
  const xs = e.map(([a, b]) => [a! / rms2(a!, b!), b! / rms2(a!, b!)] as const);
  const norm = ([a, b]: readonly number[], [wa, wb]: readonly number[]) => [
    (a! / rms2(a!, b!)) * wa!,
    (b! / rms2(a!, b!)) * wb!,
  ];
  const rope = ([a, b]: readonly number[], p: number) => [
    a! * Math.cos(p) - b! * Math.sin(p),
    b! * Math.cos(p) + a! * Math.sin(p),
  ];
  const q = xs.map((x, p) => rope(norm([2 * x[0], x[1]], [1.5, 0.5]), p)); // q_proj = diag(2, 1)
  const k = xs.map((x, p) => rope(norm([x[1], x[0]], [1, 2]), p)); // k_proj swaps
  const v = xs.map((x) => [2 * x[0], x[1]]);
  const s10 = (q[1]![0]! * k[0]![0]! + q[1]![1]! * k[0]![1]!) / Math.sqrt(2);
  const s11 = (q[1]![0]! * k[1]![0]! + q[1]![1]! * k[1]![1]!) / Math.sqrt(2);
  const p0 = 1 / (1 + Math.exp(s11 - s10));
  const att1 = [p0 * v[0]![0]! + (1 - p0) * v[1]![0]!, p0 * v[0]![1]! + (1 - p0) * v[1]![1]!];
  const expected1 = mlpAndNorm(e[1]![0]! + att1[1]!, e[1]![1]! + att1[0]!);
  const expected0 = mlpAndNorm(e[0]![0]! + v[0]![1]!, e[0]![1]! + v[0]![0]!);
  const out = m.forward([1, 2]);
  close(out.hidden[0]!, expected0, 1e-6, "pos0");
  close(out.hidden[1]!, expected1, 1e-6, "pos1");
});

test("causality: changing a later token leaves earlier hidden states unchanged", () => {
  const cfg = toyConfig({ hidden: 16, layers: 2, heads: 4, kv: 2, headDim: 6, ffn: 24, vocab: 20 });
  const m = model(cfg, randomTensors(cfg, 1));
  const a = m.forward([3, 7, 1, 9, 4]).hidden;
  const b = m.forward([3, 7, 1, 12, 0]).hidden;
  for (let t = 0; t < 3; t++) assert.deepEqual(b[t], a[t], `position ${t}`);
  assert.notDeepEqual(b[3], a[3]);
  // and an earlier change does reach later positions
  const c = m.forward([5, 7, 1, 9, 4]).hidden;
  assert.notDeepEqual(c[4], a[4]);
});

test("GQA: query head h reads kv head floor(h / (heads / kv_heads))", () => {
  // 4 query heads over 2 kv heads equals 4 over 4 kv heads whose k/v rows repeat [K0, K0, K1, K1].
  const base = { hidden: 8, layers: 1, heads: 4, headDim: 4, ffn: 8, vocab: 10 };
  const gqa = toyConfig({ ...base, kv: 2 });
  const mha = toyConfig({ ...base, kv: 4 });
  const t = randomTensors(gqa, 2);
  const expanded = new Map(t);
  for (const proj of ["k_proj", "v_proj"]) {
    const name = `model.layers.0.self_attn.${proj}.weight`;
    const w = t.get(name)!; // [2 * 4, 8]
    const rows = 4 * 8;
    const k0 = w.subarray(0, rows);
    const k1 = w.subarray(rows, 2 * rows);
    const out = new Float32Array(4 * rows);
    out.set(k0, 0);
    out.set(k0, rows);
    out.set(k1, 2 * rows);
    out.set(k1, 3 * rows);
    expanded.set(name, out);
  }
  const ids = [1, 4, 2, 8];
  const a = model(gqa, t).forward(ids).hidden;
  const b = model(mha, expanded).forward(ids).hidden;
  for (let i = 0; i < ids.length; i++) close(a[i]!, b[i]!, 1e-6, `pos ${i}`);
  // A crafted 2-head / 1-kv case: both heads attend over the same single k/v head.
  const one = toyConfig({ hidden: 8, layers: 1, heads: 2, kv: 1, headDim: 4, ffn: 8, vocab: 10 });
  const two = toyConfig({ hidden: 8, layers: 1, heads: 2, kv: 2, headDim: 4, ffn: 8, vocab: 10 });
  const t1 = randomTensors(one, 3);
  const t2 = new Map(t1);
  for (const proj of ["k_proj", "v_proj"]) {
    const name = `model.layers.0.self_attn.${proj}.weight`;
    const w = t1.get(name)!;
    const out = new Float32Array(2 * w.length);
    out.set(w, 0);
    out.set(w, w.length);
    t2.set(name, out);
  }
  const c = model(one, t1).forward(ids).hidden;
  const d = model(two, t2).forward(ids).hidden;
  for (let i = 0; i < ids.length; i++) close(c[i]!, d[i]!, 1e-6, `pos ${i}`);
});

test("zeroed blocks: each position's hidden is exactly norm(embedding)", () => {
  const cfg = toyConfig({ hidden: 8, layers: 3, heads: 2, kv: 1, headDim: 6, ffn: 8, vocab: 12 });
  const t = randomTensors(cfg, 4);
  for (let l = 0; l < 3; l++) {
    // o_proj and down_proj zero: the blocks compute things but add nothing to the residual.
    t.get(`model.layers.${l}.self_attn.o_proj.weight`)!.fill(0);
    t.get(`model.layers.${l}.mlp.down_proj.weight`)!.fill(0);
  }
  const m = model(cfg, t);
  const ids = [5, 0, 11, 5];
  const out = m.forward(ids);
  ids.forEach((id, i) => {
    const e = t.get("model.embed_tokens.weight")!.subarray(id * 8, id * 8 + 8);
    assert.deepEqual(out.hidden[i], rmsNorm(e, t.get("model.norm.weight")!, 1e-6));
  });
});

test("positions are relative: a start offset changes nothing but rounding; logits are per position", () => {
  const cfg = toyConfig({
    hidden: 16,
    layers: 2,
    heads: 4,
    kv: 2,
    headDim: 8,
    ffn: 16,
    vocab: 30,
    tied: false,
  });
  const m = model(cfg, randomTensors(cfg, 5));
  const ids = [2, 9, 17, 4];
  const a = m.forward(ids);
  const b = m.forward(ids, { startPosition: 40 });
  for (let i = 0; i < ids.length; i++) close(b.hidden[i]!, a.hidden[i]!, 1e-4, `pos ${i}`);
  assert.notDeepEqual(b.hidden[3], a.hidden[3]);
  // untied: logits come from lm_head, not the embeddings
  const lm = randomTensors(cfg, 5).get("lm_head.weight")!;
  const h = a.hidden[2]!;
  const row7 = lm.subarray(7 * 16, 8 * 16).reduce((s, w, i) => s + w * h[i]!, 0);
  assert.ok(Math.abs(a.logits(2)[7]! - row7) < 1e-5);
  assert.equal(a.logits(2), a.logits(2));
  assert.deepEqual(m.nextTokenLogits(ids), a.logits(3));
  assert.throws(() => a.logits(4), RangeError);
  assert.throws(() => m.forward([30]), /outside the vocabulary/);
});

test("load(): reads a written folder (f32 and bf16) and rejects mismatched checkpoints", () => {
  const cfg = toyConfig({
    hidden: 8,
    layers: 1,
    heads: 2,
    kv: 1,
    headDim: 4,
    ffn: 8,
    vocab: 12,
    tied: false,
  });
  const t = randomTensors(cfg, 6);
  const f32 = path.join(root, "toy-f32");
  const bf16 = path.join(root, "toy-bf16");
  writeModelFolder({ outDir: f32, config: cfg, tensors: t, dtype: "f32", withTokenizer: false });
  writeModelFolder({ outDir: bf16, config: cfg, tensors: t, dtype: "bf16", withTokenizer: false });
  const ids = [3, 1, 4, 1, 5];
  const mem = model(cfg, t).forward(ids);
  const disk = ReferenceQwen3.load(f32).forward(ids);
  for (let i = 0; i < ids.length; i++) assert.deepEqual(disk.hidden[i], mem.hidden[i]);
  const approx = ReferenceQwen3.load(bf16).forward(ids);
  close(approx.hidden[4]!, mem.hidden[4]!, 0.1, "bf16");

  // config says untied, but no lm_head in the file
  const noHead = path.join(root, "no-head");
  writeModelFolder({
    outDir: noHead,
    config: { ...cfg, tie_word_embeddings: true },
    tensors: new Map([...t].filter(([k]) => k !== "lm_head.weight")),
    dtype: "f32",
    withTokenizer: false,
  });
  fs.writeFileSync(path.join(noHead, "config.json"), JSON.stringify(cfg));
  assert.throws(
    () => ReferenceQwen3.load(noHead),
    (e: unknown) => e instanceof ReferenceWeightsError && /lm_head/.test(e.message),
  );

  // a transposed q_proj is caught by its shape
  const bad = path.join(root, "bad-shape");
  fs.mkdirSync(bad);
  fs.writeFileSync(path.join(bad, "config.json"), JSON.stringify(cfg));
  const specs = checkpointTensors(parseHfConfig(cfg));
  writeSafetensors(
    path.join(bad, "model.safetensors"),
    specs.map((s) => ({
      name: s.name,
      dtype: "F32" as const,
      shape: s.name.endsWith("k_proj.weight") ? [...s.shape].reverse() : s.shape,
      values: () => t.get(s.name)!,
    })),
  );
  assert.throws(() => ReferenceQwen3.load(bad), /k_proj\.weight has shape \[8, 4\], config implies \[4, 8\]/);
});

test("a synthesized tiny model (real vocabulary) runs a 20-token forward quickly", () => {
  const dir = path.join(root, "tiny");
  synthesizeModel({ kind: "gen", shape: "tiny", outDir: dir, seed: 11 });
  const t0 = performance.now();
  const m = ReferenceQwen3.load(dir);
  const ids = Array.from({ length: 20 }, (_, i) => (i * 7919) % 151936);
  const out = m.forward(ids);
  const logits = out.logits(19);
  const ms = performance.now() - t0;
  assert.equal(logits.length, 151936);
  assert.ok(logits.every(Number.isFinite));
  assert.ok(ms < 3000, `load + forward + logits took ${ms.toFixed(0)} ms`);
  // post-final-norm states have RMS ≈ RMS of the norm weights (≈ 1), not blown up by depth
  const h = out.hidden[19]!;
  const r = Math.sqrt(h.reduce((s, x) => s + x * x, 0) / h.length);
  assert.ok(r > 0.7 && r < 1.3, `rms ${r}`);
});
