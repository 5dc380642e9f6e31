import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { convertHfToGguf } from "../../src/model/convert/convert-hf-to-gguf.js";
import { modelNameFromDir } from "../../src/model/convert/qwen3-gguf-metadata.js";
import { chooseGgmlType } from "../../src/model/convert/qwen3-tensor-plan.js";
import { ConvertError } from "../../src/model/convert/convert-error.js";
import { GgufFile } from "../../src/model/gguf/gguf-reader.js";
import { GgmlType } from "../../src/model/gguf/ggml-types.js";
import { f16ToF32, f32ToF16, SafetensorsFile, writeSafetensors } from "../../src/model/safetensors.js";
import { parseHfConfig } from "../../src/model/hf-config.js";
import {
  checkpointTensors,
  synthConfigJson,
  synthesizeModel,
  synthTensorValues,
  writeCheckpointFolder,
} from "../../src/model/synth/index.js";

let root: string;
let realDir: string; // tiny Gen, tied, bf16, the real Qwen3 tokenizer (151936 rows)
let toyDir: string; // tiny Gen, tied, bf16, a toy 256-row vocabulary (fast numeric checks)
let oddDir: string; // tiny Stream, untied, f32, ffn 40 (not a multiple of 32), two shards, toy vocabulary

/** HF name → GGUF name, written out independently of the converter's table. */
function ggufNameOf(hf: string): string | undefined {
  if (hf === "model.embed_tokens.weight") return "token_embd.weight";
  if (hf === "model.norm.weight") return "output_norm.weight";
  if (hf === "lm_head.weight") return "output.weight";
  const m = /^model\.layers\.(\d+)\.(.+)\.weight$/.exec(hf);
  if (!m) return undefined;
  const table: Record<string, string> = {
    input_layernorm: "attn_norm",
    "self_attn.q_proj": "attn_q",
    "self_attn.k_proj": "attn_k",
    "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output",
    "self_attn.q_norm": "attn_q_norm",
    "self_attn.k_norm": "attn_k_norm",
    post_attention_layernorm: "ffn_norm",
    "mlp.gate_proj": "ffn_gate",
    "mlp.up_proj": "ffn_up",
    "mlp.down_proj": "ffn_down",
  };
  const g = table[m[2]!];
  return g ? `blk.${m[1]}.${g}.weight` : undefined;
}

/** Every HF tensor of a folder as float32 (single file or shards). */
function readAllHf(dir: string): Map<string, { shape: number[]; values: Float32Array }> {
  const out = new Map<string, { shape: number[]; values: Float32Array }>();
  for (const f of fs.readdirSync(dir).filter((n) => n.endsWith(".safetensors"))) {
    const st = SafetensorsFile.open(path.join(dir, f));
    for (const [name, info] of st.tensors) out.set(name, { shape: info.shape, values: st.readFloat32(name) });
    st.close();
  }
  return out;
}

/** Straightforward Q8_0 of one 32-value block, written from the format description. */
function referenceQ8Block(x: Float32Array): { d: number; q: number[] } {
  let amax = 0;
  for (const v of x) amax = Math.max(amax, Math.abs(v));
  const d = Math.fround(amax / 127);
  const id = d === 0 ? 0 : Math.fround(1 / d);
  const q = Array.from(x, (v) => {
    const s = Math.fround(v * id);
    return Math.sign(s) * Math.floor(Math.abs(s) + 0.5);
  });
  return { d, q };
}

const TOY_ROWS = 256;
const TOY_TEMPLATE = "{% for m in messages %}{{ m.content }}{% endfor %}";

/** A small byte-level BPE tokenizer: 200 plain tokens, three added ones, padded by the converter to 256 rows. */
function writeToyTokenizer(dir: string): void {
  const vocab: Record<string, number> = {};
  for (let i = 0; i < 200; i++) vocab[`t${i}`] = i;
  const tokenizer = {
    version: "1.0",
    added_tokens: [
      { id: 200, content: "<|endoftext|>", special: true },
      { id: 201, content: "<|im_end|>", special: true },
      { id: 202, content: "<think>", special: false },
    ],
    model: { type: "BPE", vocab, merges: [["t", "1"], "t 2"] },
  };
  fs.writeFileSync(path.join(dir, "tokenizer.json"), JSON.stringify(tokenizer));
  const tokConfig = {
    eos_token: "<|im_end|>",
    pad_token: "<|endoftext|>",
    bos_token: null,
    add_bos_token: false,
  };
  fs.writeFileSync(path.join(dir, "tokenizer_config.json"), JSON.stringify(tokConfig));
  fs.writeFileSync(path.join(dir, "chat_template.jinja"), TOY_TEMPLATE);
}

/** A synthetic checkpoint with the toy vocabulary. */
function writeToyModel(
  dir: string,
  kind: "gen" | "stream",
  dtype: "f32" | "bf16",
  seed: number,
  overrides: Record<string, unknown>,
): void {
  const configJson: Record<string, unknown> = {
    ...synthConfigJson({ kind, shape: "tiny", dtype }),
    vocab_size: TOY_ROWS,
    ...overrides,
  };
  delete configJson.bos_token_id; // the tokenizer config sets none either: bos must then be absent
  const specs = checkpointTensors(parseHfConfig(configJson));
  writeCheckpointFolder({
    outDir: dir,
    configJson,
    sources: specs.map((spec) => ({ spec, values: () => synthTensorValues(spec, seed) })),
    dtype,
    withTokenizer: false,
  });
  writeToyTokenizer(dir);
}

before(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), "q3g-convert-"));
  realDir = path.join(root, "real");
  synthesizeModel({ kind: "gen", shape: "tiny", outDir: realDir, dtype: "bf16", seed: 7 });
  toyDir = path.join(root, "toy");
  writeToyModel(toyDir, "gen", "bf16", 3, {});

  oddDir = path.join(root, "odd");
  writeToyModel(oddDir, "stream", "f32", 11, { intermediate_size: 40, tie_word_embeddings: false });
  // Re-shard into two files plus an index, as large checkpoints are shipped.
  const single = path.join(oddDir, "model.safetensors");
  const st = SafetensorsFile.open(single);
  const names = [...st.tensors.keys()];
  const weightMap: Record<string, string> = {};
  const halves = [names.slice(0, names.length / 2), names.slice(names.length / 2)];
  halves.forEach((part, i) => {
    const file = `model-0000${i + 1}-of-00002.safetensors`;
    writeSafetensors(
      path.join(oddDir, file),
      part.map((name) => ({
        name,
        dtype: "F32",
        shape: st.info(name).shape,
        values: () => st.readFloat32(name),
      })),
    );
    for (const n of part) weightMap[n] = file;
  });
  st.close();
  fs.rmSync(single);
  fs.writeFileSync(
    path.join(oddDir, "model.safetensors.index.json"),
    JSON.stringify({ weight_map: weightMap }),
  );
});

after(() => fs.rmSync(root, { recursive: true, force: true }));

test("F32 conversion reproduces every bf16 weight bit for bit, with ne = reversed HF shape", async () => {
  const out = path.join(root, "toy-f32.gguf");
  const result = await convertHfToGguf({ modelDir: toyDir, outFile: out, type: "f32" });
  const hf = readAllHf(toyDir);
  const g = GgufFile.open(out);
  try {
    assert.equal(g.tensors.length, hf.size, "tied: one GGUF tensor per HF tensor, no output.weight");
    assert.equal(g.tensor("output.weight"), undefined);
    assert.deepEqual(result.skippedTensors, []);
    for (const [name, { shape, values }] of hf) {
      const gname = ggufNameOf(name);
      assert.ok(gname, `unexpected HF tensor ${name}`);
      const info = g.tensor(gname);
      assert.ok(info, `missing ${gname}`);
      assert.equal(info.type, GgmlType.F32);
      assert.deepEqual(info.ne, [...shape].reverse());
      assert.equal(info.offset % 32, 0, `${gname} is not 32-byte aligned`);
      const got = g.readTensorFloat32(gname);
      assert.ok(Buffer.from(got.buffer).equals(Buffer.from(values.buffer)), `${gname} differs`);
    }
  } finally {
    g.close();
  }
});

test("F16 conversion: matrices within f16 rounding, norms kept F32 and exact", async () => {
  const out = path.join(root, "toy-f16.gguf");
  await convertHfToGguf({ modelDir: toyDir, outFile: out, type: "f16" });
  const hf = readAllHf(toyDir);
  const g = GgufFile.open(out);
  try {
    assert.equal(g.getNumber("general.file_type"), 1);
    for (const [name, { shape, values }] of hf) {
      const gname = ggufNameOf(name)!;
      const info = g.tensor(gname)!;
      const got = g.readTensorFloat32(gname);
      if (shape.length === 1) {
        assert.equal(info.type, GgmlType.F32, `${gname} should stay F32`);
        assert.deepEqual(got, values);
        continue;
      }
      assert.equal(info.type, GgmlType.F16);
      for (let i = 0; i < values.length; i++) {
        const v = values[i]!;
        // |x - f16(x)| ≤ half an f16 ulp: 2^-11 relative for normals, 2^-25 absolute for subnormals.
        const bound = Math.max(Math.abs(v) * 2 ** -11, 2 ** -25);
        if (Math.abs(got[i]! - v) > bound) assert.fail(`${gname}[${i}]: ${got[i]} vs ${v}`);
        if (got[i] !== f16ToF32(f32ToF16(v))) assert.fail(`${gname}[${i}] is not the nearest half`);
      }
    }
  } finally {
    g.close();
  }
});

test("Q8_0 conversion matches an independent block re-implementation and its error bound", async () => {
  const out = path.join(root, "toy-q8.gguf");
  const result = await convertHfToGguf({ modelDir: toyDir, outFile: out });
  assert.equal(result.type, "q8_0", "q8_0 is the default");
  const hf = readAllHf(toyDir);
  const g = GgufFile.open(out);
  try {
    assert.equal(g.getNumber("general.file_type"), 7);
    for (const [name, { shape, values }] of hf) {
      const gname = ggufNameOf(name)!;
      const info = g.tensor(gname)!;
      if (shape.length === 1) {
        assert.equal(info.type, GgmlType.F32, `${gname} should stay F32`);
        continue;
      }
      assert.equal(info.type, GgmlType.Q8_0, gname);
      const raw = g.readTensorBytes(gname);
      assert.equal(raw.length, (values.length / 32) * 34);
      const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
      const got = g.readTensorFloat32(gname);
      for (let b = 0; b < values.length / 32; b++) {
        const block = values.subarray(b * 32, b * 32 + 32);
        const ref = referenceQ8Block(block);
        const dStored = f16ToF32(view.getUint16(b * 34, true));
        assert.equal(view.getUint16(b * 34, true), f32ToF16(ref.d), `${gname} block ${b}: scale`);
        for (let j = 0; j < 32; j++) {
          const q = view.getInt8(b * 34 + 2 + j);
          if (q !== ref.q[j]) assert.fail(`${gname} block ${b}[${j}]: q ${q} vs reference ${ref.q[j]}`);
          const err = Math.abs(got[b * 32 + j]! - block[j]!);
          // Rounding error d/2, plus the scale's own f16 rounding (|d - f16(d)| ≤ 2^-11 d) times |q| ≤ 127.
          if (err > ref.d / 2 + 127 * Math.abs(dStored - ref.d) + 1e-7) {
            assert.fail(`${gname} block ${b}[${j}]: error ${err} exceeds d/2 = ${ref.d / 2}`);
          }
        }
      }
    }
  } finally {
    g.close();
  }
});

test("real Qwen3 tokenizer: architecture values from config.json, tokenizer arrays, chat template", async () => {
  const out = path.join(root, "real-q8.gguf");
  await convertHfToGguf({ modelDir: realDir, outFile: out });
  const config = JSON.parse(fs.readFileSync(path.join(realDir, "config.json"), "utf8"));
  const tokJson = JSON.parse(fs.readFileSync(path.join(realDir, "tokenizer.json"), "utf8"));
  const tokConfig = JSON.parse(fs.readFileSync(path.join(realDir, "tokenizer_config.json"), "utf8"));
  const g = GgufFile.open(out);
  try {
    assert.equal(g.version, 3);
    assert.equal(g.getString("general.architecture"), "qwen3");
    assert.equal(g.getString("general.name"), "real");
    const expectNum: Record<string, number> = {
      "qwen3.context_length": config.max_position_embeddings,
      "qwen3.embedding_length": config.hidden_size,
      "qwen3.block_count": config.num_hidden_layers,
      "qwen3.feed_forward_length": config.intermediate_size,
      "qwen3.attention.head_count": config.num_attention_heads,
      "qwen3.attention.head_count_kv": config.num_key_value_heads,
      "qwen3.attention.key_length": config.head_dim,
      "qwen3.attention.value_length": config.head_dim,
      "qwen3.rope.freq_base": config.rope_theta,
      "tokenizer.ggml.eos_token_id": 151645,
      "tokenizer.ggml.bos_token_id": 151643,
      "tokenizer.ggml.padding_token_id": 151643,
    };
    for (const [k, v] of Object.entries(expectNum)) assert.equal(g.getNumber(k), v, k);
    assert.ok(Math.abs(g.getNumber("qwen3.attention.layer_norm_rms_epsilon")! - 1e-6) < 1e-12);
    assert.equal(g.metadata.get("qwen3.attention.key_length")?.type, "uint32");
    assert.equal(g.metadata.has("qwen3.pooling_type"), false);
    assert.equal(g.getString("tokenizer.ggml.model"), "gpt2");
    assert.equal(g.getString("tokenizer.ggml.pre"), "qwen2");
    assert.equal(g.get("tokenizer.ggml.add_bos_token"), false);
    assert.equal(g.getString("tokenizer.chat_template"), tokConfig.chat_template);

    const tokens = g.getStringArray("tokenizer.ggml.tokens")!;
    const types = g.getNumberArray("tokenizer.ggml.token_type")!;
    const embRows = g.tensor("token_embd.weight")!.ne[1];
    assert.equal(tokens.length, embRows);
    assert.equal(tokens.length, 151936);
    assert.equal(types.length, tokens.length);
    assert.equal(g.metadata.get("tokenizer.ggml.token_type")?.type, "array");
    for (const [text, id] of Object.entries(tokJson.model.vocab as Record<string, number>)) {
      if (tokens[id] !== text || types[id] !== 1)
        assert.fail(`token ${id}: ${tokens[id]} (${types[id]}) vs ${text}`);
    }
    const id = (t: string): number =>
      tokJson.added_tokens.find((a: { content: string }) => a.content === t).id;
    assert.equal(tokens[id("<|im_start|>")], "<|im_start|>");
    assert.equal(types[id("<|im_start|>")], 3);
    assert.equal(types[id("<|endoftext|>")], 3);
    assert.equal(types[id("<|fim_prefix|>")], 3, "not marked special but looks like <|…|>: CONTROL");
    assert.equal(types[id("<think>")], 4);
    assert.equal(types[id("</think>")], 4);
    assert.equal(types[id("<tool_call>")], 4);
    assert.equal(tokens[151669], "[PAD151669]");
    assert.equal(types[151669], 5);
    assert.equal(tokens[151935], "[PAD151935]");
    assert.equal(types[151935], 5);
    const merges = g.getStringArray("tokenizer.ggml.merges")!;
    assert.equal(merges.length, tokJson.model.merges.length);
    const m0 = tokJson.model.merges[0];
    assert.equal(merges[0], Array.isArray(m0) ? m0.join(" ") : m0);
  } finally {
    g.close();
  }
});

test("toy tokenizer: padding, types, merges in both spellings, special ids, chat_template.jinja", async () => {
  const out = path.join(root, "toy-f32.gguf");
  if (!fs.existsSync(out)) await convertHfToGguf({ modelDir: toyDir, outFile: out, type: "f32" });
  const g = GgufFile.open(out);
  try {
    const tokens = g.getStringArray("tokenizer.ggml.tokens")!;
    const types = g.getNumberArray("tokenizer.ggml.token_type")!;
    assert.equal(tokens.length, TOY_ROWS);
    assert.deepEqual(tokens.slice(198, 205), [
      "t198",
      "t199",
      "<|endoftext|>",
      "<|im_end|>",
      "<think>",
      "[PAD203]",
      "[PAD204]",
    ]);
    assert.deepEqual(types.slice(198, 205), [1, 1, 3, 3, 4, 5, 5]);
    assert.deepEqual(g.getStringArray("tokenizer.ggml.merges"), ["t 1", "t 2"]);
    assert.equal(g.getNumber("tokenizer.ggml.eos_token_id"), 201);
    assert.equal(g.getNumber("tokenizer.ggml.padding_token_id"), 200);
    assert.equal(
      g.metadata.has("tokenizer.ggml.bos_token_id"),
      false,
      "neither tokenizer_config nor config sets bos",
    );
    assert.equal(g.getString("tokenizer.chat_template"), TOY_TEMPLATE);
    assert.equal(g.getNumber("general.file_type"), 0);
  } finally {
    g.close();
  }
});

test("untied, sharded Stream checkpoint: output.weight written, heads skipped, odd ne0 falls back to F16", async () => {
  const hf = readAllHf(oddDir);
  const f32 = path.join(root, "odd-f32.gguf");
  const r32 = await convertHfToGguf({ modelDir: oddDir, outFile: f32, type: "f32" });
  assert.equal(r32.skippedTensors.length, 8, "the eight Stream head tensors are left out");
  assert.ok(r32.skippedTensors.every((n) => !n.startsWith("model.")));
  const g = GgufFile.open(f32);
  try {
    const lm = hf.get("lm_head.weight")!;
    assert.deepEqual(g.tensor("output.weight")!.ne, [...lm.shape].reverse());
    assert.deepEqual(g.readTensorFloat32("output.weight"), lm.values);
    assert.deepEqual(
      g.readTensorFloat32("blk.1.ffn_down.weight"),
      hf.get("model.layers.1.mlp.down_proj.weight")!.values,
    );
    assert.equal(g.tensors.length, hf.size - 8);
  } finally {
    g.close();
  }
  const q8 = path.join(root, "odd-q8.gguf");
  const r8 = await convertHfToGguf({ modelDir: oddDir, outFile: q8 });
  assert.equal(
    r8.tensorTypes["blk.0.ffn_down.weight"],
    "F16",
    "ne0 = 40 is not a whole number of Q8_0 blocks",
  );
  assert.equal(r8.tensorTypes["blk.0.ffn_up.weight"], "Q8_0");
  assert.equal(r8.tensorTypes["output.weight"], "Q8_0");
  assert.equal(r8.tensorTypes["blk.0.attn_q_norm.weight"], "F32");
  const g8 = GgufFile.open(q8);
  try {
    assert.equal(g8.tensor("blk.0.ffn_down.weight")!.type, GgmlType.F16);
    assert.equal(g8.tensor("output.weight")!.type, GgmlType.Q8_0);
    assert.equal(g8.getString("general.name"), "odd");
  } finally {
    g8.close();
  }
});

test("bad folders fail with ConvertError naming the problem", async () => {
  const broken = path.join(root, "broken");
  fs.cpSync(toyDir, broken, { recursive: true });
  const config = JSON.parse(fs.readFileSync(path.join(broken, "config.json"), "utf8"));
  config.intermediate_size = 96; // weights were written for 128
  fs.writeFileSync(path.join(broken, "config.json"), JSON.stringify(config));
  const out = path.join(root, "broken.gguf");
  await assert.rejects(convertHfToGguf({ modelDir: broken, outFile: out }), (e: unknown) => {
    assert.ok(e instanceof ConvertError);
    assert.match(e.message, /gate_proj.weight has shape \[128, 64\] but config.json implies \[96, 64\]/);
    return true;
  });
  config.intermediate_size = 128;
  config.tie_word_embeddings = false;
  fs.writeFileSync(path.join(broken, "config.json"), JSON.stringify(config));
  await assert.rejects(convertHfToGguf({ modelDir: broken, outFile: out }), /lack lm_head\.weight/);
  fs.rmSync(path.join(broken, "model.safetensors"));
  await assert.rejects(convertHfToGguf({ modelDir: broken, outFile: out }), /neither model\.safetensors nor/);
  assert.equal(fs.existsSync(out), false);
  assert.deepEqual(
    fs.readdirSync(root).filter((n) => n.includes(".partial")),
    [],
  );
});

test("type choice and model names", () => {
  assert.equal(chooseGgmlType([64], "q8_0"), GgmlType.F32);
  assert.equal(chooseGgmlType([64], "f16"), GgmlType.F32);
  assert.equal(chooseGgmlType([64, 128], "q8_0"), GgmlType.Q8_0);
  assert.equal(chooseGgmlType([40, 64], "q8_0"), GgmlType.F16);
  assert.equal(chooseGgmlType([40, 64], "f16"), GgmlType.F16);
  assert.equal(chooseGgmlType([64, 128], "f32"), GgmlType.F32);
  const snapshot = path.join("/hf", "hub", "models--Qwen--Qwen3Guard-Gen-0.6B", "snapshots", "abc123");
  assert.equal(modelNameFromDir(snapshot), "Qwen3Guard-Gen-0.6B");
  assert.equal(modelNameFromDir("/models/my-guard/"), "my-guard");
});
