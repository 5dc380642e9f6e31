import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { writeGguf, GgufWriteError, type GgufTensorToWrite } from "../../src/model/gguf/gguf-writer.js";
import { GgufFile, GgufReadError } from "../../src/model/gguf/gguf-reader.js";
import { gguf, type GgufMetadata } from "../../src/model/gguf/gguf-value.js";
import { GgmlType, ggmlTensorByteLength, GgmlTypeError } from "../../src/model/gguf/ggml-types.js";
import { dequantizeQ8_0, encodeF16, quantizeQ8_0, QuantizeError } from "../../src/model/gguf/quantize.js";
import { f16ToF32, f32ToF16 } from "../../src/model/safetensors.js";

let dir: string;
before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "q3g-gguf-"));
});
after(() => fs.rmSync(dir, { recursive: true, force: true }));

function f32Tensor(name: string, ne: number[], values: Float32Array): GgufTensorToWrite {
  return { name, ne, type: GgmlType.F32, data: () => [new Uint8Array(values.buffer)] };
}

test("header bytes follow the GGUF v3 layout exactly", async () => {
  const file = path.join(dir, "layout.gguf");
  const md: GgufMetadata = new Map([["a", gguf.u32(7)]]);
  await writeGguf(file, md, [f32Tensor("t", [2], new Float32Array([1.5, -2]))]);
  const b = fs.readFileSync(file);
  const expected = Buffer.alloc(96);
  let o = 0;
  o += expected.write("GGUF", o, "latin1");
  o = expected.writeUInt32LE(3, o);
  o = expected.writeBigUInt64LE(1n, o); // tensors
  o = expected.writeBigUInt64LE(1n, o); // kv pairs
  o = expected.writeBigUInt64LE(1n, o); // key length
  o += expected.write("a", o, "latin1");
  o = expected.writeUInt32LE(4, o); // uint32
  o = expected.writeUInt32LE(7, o);
  o = expected.writeBigUInt64LE(1n, o); // name length
  o += expected.write("t", o, "latin1");
  o = expected.writeUInt32LE(1, o); // n_dims
  o = expected.writeBigUInt64LE(2n, o); // ne[0]
  o = expected.writeUInt32LE(0, o); // F32
  o = expected.writeBigUInt64LE(0n, o); // offset
  assert.equal(o, 74);
  const dataStart = 96; // 74 rounded up to 32
  const full = Buffer.concat([expected.subarray(0, dataStart), Buffer.alloc(32)]);
  full.writeFloatLE(1.5, dataStart);
  full.writeFloatLE(-2, dataStart + 4);
  assert.equal(b.length, dataStart + 32, "data section padded to the alignment");
  assert.ok(b.equals(full), `got ${b.toString("hex")}`);
});

test("metadata of every value type round-trips", async () => {
  const file = path.join(dir, "meta.gguf");
  const md: GgufMetadata = new Map([
    ["u8", { type: "uint8", value: 255 }],
    ["i8", { type: "int8", value: -128 }],
    ["u16", { type: "uint16", value: 65535 }],
    ["i16", { type: "int16", value: -32768 }],
    ["u32", gguf.u32(4294967295)],
    ["i32", gguf.i32(-2147483648)],
    ["f32", gguf.f32(0.25)],
    ["f64", { type: "float64", value: Math.PI }],
    ["u64", gguf.u64(2n ** 63n + 5n)],
    ["i64", { type: "int64", value: -(2n ** 62n) }],
    ["yes", gguf.bool(true)],
    ["no", gguf.bool(false)],
    ["s", gguf.str("héllo ✓ 世界")],
    ["empty", gguf.str("")],
    ["strs", gguf.strings(["a", "", "Ġthe", "<|im_start|>"])],
    ["ints", gguf.i32s([1, -2, 3])],
    ["f32s", gguf.array("float32", [0.5, -1])],
    ["nested", { type: "array", itemType: "array", value: [gguf.i32s([1, 2]), gguf.strings(["x"])] }],
  ]);
  await writeGguf(file, md, []);
  const g = GgufFile.open(file);
  try {
    assert.deepEqual([...g.metadata.keys()], [...md.keys()], "order kept");
    for (const [k, v] of md) assert.deepEqual(g.metadata.get(k), v, k);
    assert.equal(g.getString("s"), "héllo ✓ 世界");
    assert.deepEqual(g.getStringArray("strs"), ["a", "", "Ġthe", "<|im_start|>"]);
    assert.deepEqual(g.getNumberArray("ints"), [1, -2, 3]);
    assert.equal(g.getNumber("u64"), Number(2n ** 63n + 5n));
    assert.throws(() => g.getString("u32"), GgufReadError);
    assert.equal(g.tensors.length, 0);
  } finally {
    g.close();
  }
});

test("tensors of mixed types and odd sizes sit at aligned offsets and read back", async () => {
  const file = path.join(dir, "tensors.gguf");
  const a = new Float32Array([1, 2, 3]);
  const b = Float32Array.from({ length: 10 }, (_, i) => i / 3 - 1);
  const c = Float32Array.from({ length: 64 }, (_, i) => Math.sin(i) * 3);
  const tensors: GgufTensorToWrite[] = [
    f32Tensor("a", [3], a),
    {
      name: "b",
      ne: [5, 2],
      type: GgmlType.F16,
      data: () => [encodeF16(b).subarray(0, 6), encodeF16(b).subarray(6)],
    },
    { name: "c", ne: [32, 2], type: GgmlType.Q8_0, data: () => [quantizeQ8_0(c)] },
  ];
  await writeGguf(file, new Map([["general.architecture", gguf.str("test")]]), tensors);
  const g = GgufFile.open(file);
  try {
    assert.deepEqual(
      g.tensors.map((t) => [t.name, t.ne, t.type, t.byteLength]),
      [
        ["a", [3], GgmlType.F32, 12],
        ["b", [5, 2], GgmlType.F16, 20],
        ["c", [32, 2], GgmlType.Q8_0, 68],
      ],
    );
    for (const t of g.tensors) assert.equal((t.offset - g.dataStart) % 32, 0, `${t.name} unaligned`);
    assert.equal(g.dataStart % 32, 0);
    assert.deepEqual(g.readTensorFloat32("a"), a);
    assert.deepEqual(
      g.readTensorFloat32("b"),
      Float32Array.from(b, (v) => f16ToF32(f32ToF16(v))),
    );
    assert.deepEqual(g.readTensorFloat32("c"), dequantizeQ8_0(quantizeQ8_0(c)));
  } finally {
    g.close();
  }
});

test("Q8_0: exact halves round away from zero, zero blocks, scale stored as f16 of the unrounded d", () => {
  const x = new Float32Array(64);
  // Block 0: amax 127 → d = 1, so q = round(x) exactly.
  x.set([127, 2.5, -2.5, 0.5, -0.5, 1.49, -1.51, 126.5, -127]);
  // Block 1 stays all zero.
  const bytes = quantizeQ8_0(x);
  assert.equal(bytes.length, 68);
  const view = new DataView(bytes.buffer);
  assert.equal(f16ToF32(view.getUint16(0, true)), 1);
  const q = Array.from(new Int8Array(bytes.buffer, 2, 9));
  assert.deepEqual(q, [127, 3, -3, 1, -1, 1, -2, 127, -127]);
  assert.equal(view.getUint16(34, true), 0);
  assert.deepEqual(Array.from(new Int8Array(bytes.buffer, 36, 32)), new Array(32).fill(0));

  // amax 1 → d = 1/127, which f16 cannot hold; q uses the float32 1/d (=127), d is stored rounded.
  const y = new Float32Array(32).fill(0.75);
  y[5] = -1;
  const qb = quantizeQ8_0(y);
  const qv = new DataView(qb.buffer);
  assert.equal(qv.getUint16(0, true), f32ToF16(Math.fround(1 / 127)));
  assert.equal(qv.getInt8(2 + 5), -127);
  assert.equal(qv.getInt8(2), Math.round(0.75 * 127)); // 95.25 → 95
  const back = dequantizeQ8_0(qb);
  assert.equal(back[5], -127 * f16ToF32(f32ToF16(1 / 127)));

  assert.throws(() => quantizeQ8_0(new Float32Array(40)), QuantizeError);
  assert.throws(() => ggmlTensorByteLength(GgmlType.Q8_0, [40, 2]), GgmlTypeError);
  assert.equal(ggmlTensorByteLength(GgmlType.Q8_0, [4096, 151936]), (4096 / 32) * 34 * 151936);
});

test("a tensor producing the wrong byte count aborts the write and leaves no file", async () => {
  const file = path.join(dir, "short.gguf");
  const bad: GgufTensorToWrite = { name: "x", ne: [4], type: GgmlType.F32, data: () => [new Uint8Array(12)] };
  await assert.rejects(writeGguf(file, new Map(), [bad]), GgufWriteError);
  assert.equal(fs.existsSync(file), false);
  assert.deepEqual(
    fs.readdirSync(dir).filter((n) => n.includes("short")),
    [],
  );
  await assert.rejects(
    writeGguf(file, new Map(), [
      f32Tensor("x", [1], new Float32Array(1)),
      f32Tensor("x", [1], new Float32Array(1)),
    ]),
    /duplicate tensor name x/,
  );
});

test("the reader rejects non-GGUF and truncated files", async () => {
  const junk = path.join(dir, "junk.gguf");
  fs.writeFileSync(junk, Buffer.alloc(64, 1));
  assert.throws(() => GgufFile.open(junk), /not a GGUF file/);
  const good = path.join(dir, "trunc.gguf");
  await writeGguf(good, new Map([["k", gguf.strings(["abc", "def"])]]), [
    f32Tensor("t", [64], new Float32Array(64)),
  ]);
  const full = fs.readFileSync(good);
  fs.writeFileSync(good, full.subarray(0, full.length - 10));
  assert.throws(() => GgufFile.open(good), /extends past the end of the file/);
  fs.writeFileSync(good, full.subarray(0, 40));
  assert.throws(() => GgufFile.open(good), /unexpected end of file in the header/);
});
