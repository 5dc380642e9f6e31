/**
 * The GGUF vocabulary is read by streaming the header (visitGgufMetadata): the tokenizer it builds must be the one
 * the whole-header reader (GgufFile.open) gave, id for id, with the same errors.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { writeGguf } from "../../src/model/gguf/gguf-writer.js";
import {
  GgufFile,
  GgufReadError,
  readGgufScalars,
  visitGgufMetadata,
} from "../../src/model/gguf/gguf-reader.js";
import {
  gguf,
  type GgufArrayItem,
  type GgufMetadata,
  type GgufValue,
} from "../../src/model/gguf/gguf-value.js";
import { GgmlType } from "../../src/model/gguf/ggml-types.js";
import { tokenizerFromGguf } from "../../src/model/gguf-tokenizer.js";
import {
  QwenTokenizer,
  TokenizerFormatError,
  loadBundledQwen3Tokenizer,
} from "../../src/model/tokenizer/index.js";
import { fixtureText, qwen3GgufArrays, rtpLxPrompts } from "./tokenizer-test-data.js";

let dir: string;
before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "q3g-gguf-vocab-"));
});
after(() => fs.rmSync(dir, { recursive: true, force: true }));

const tensor = {
  name: "t",
  ne: [2],
  type: GgmlType.F32,
  data: () => [new Uint8Array(new Float32Array([1, 2]).buffer)],
};

async function write(name: string, md: GgufMetadata): Promise<string> {
  const file = path.join(dir, name);
  await writeGguf(file, md, [tensor]);
  return file;
}

const nested: GgufValue = {
  type: "array",
  itemType: "array",
  value: [gguf.strings(["x", "yz"]), gguf.i32s([1, -2, 3])],
};

test("visitGgufMetadata delivers every value GgufFile.open reads, and skips the arrays it is not asked for", async () => {
  const md: GgufMetadata = new Map<string, GgufValue>([
    ["general.architecture", gguf.str("qwen3")],
    ["a.u32", gguf.u32(7)],
    ["a.strings", gguf.strings(["α", "", "b c"])],
    ["a.nested", nested],
    ["a.u64s", gguf.array("uint64", [1n, 2n ** 40n])],
    ["a.bools", gguf.array("bool", [true, false])],
    ["a.f32", gguf.f32(0.5)],
    ["a.i32s", gguf.i32s([5, -6])],
    ["a.last", gguf.str("end")],
  ]);
  const file = await write("values.gguf", md);
  const expected = GgufFile.open(file);
  expected.close();

  const seen = new Map<string, GgufValue>();
  visitGgufMetadata(file, {
    value: (key, value) => seen.set(key, value),
    array(key, itemType, length) {
      const items: GgufArrayItem[] = [];
      seen.set(key, { type: "array", itemType, value: items } as GgufValue);
      return (item, i) => {
        assert.equal(i, items.length);
        assert.ok(i < length);
        items.push(item);
      };
    },
  });
  assert.deepEqual(seen, expected.metadata);

  // skipping every array (strings, nested, fixed-size) still reads the values after them
  const scalars = new Map<string, GgufValue>();
  visitGgufMetadata(file, { value: (key, value) => scalars.set(key, value) });
  assert.deepEqual(
    [...scalars.keys()],
    [...expected.metadata].filter(([, v]) => v.type !== "array").map(([k]) => k),
  );
  assert.deepEqual(scalars.get("a.last"), gguf.str("end"));
});

test("readGgufScalars reads every value but the items of arrays, which it lists empty, skipped undecoded", async () => {
  const md: GgufMetadata = new Map<string, GgufValue>([
    ["general.architecture", gguf.str("qwen3")],
    ["tokenizer.ggml.tokens", gguf.strings(["a", "b", "ab"])],
    ["a.nested", nested],
    ["a.u64", gguf.u64(2n ** 40n)],
    ["tokenizer.ggml.token_type", gguf.i32s([1, 1, 1])],
    ["tokenizer.chat_template", gguf.str("{{ messages }}")],
  ]);
  const file = await write("scalars.gguf", md);
  const expected = GgufFile.open(file);
  expected.close();
  const scalars = readGgufScalars(file);
  assert.deepEqual([...scalars.keys()], [...expected.metadata.keys()]);
  for (const [key, value] of expected.metadata) {
    if (value.type === "array") assert.deepEqual(scalars.get(key), { ...value, value: [] }, key);
    else assert.deepEqual(scalars.get(key), value, key);
  }
  const cut = path.join(dir, "scalars-cut.gguf");
  fs.writeFileSync(cut, fs.readFileSync(file).subarray(0, 80));
  assert.throws(() => readGgufScalars(cut), GgufReadError);
});

test("visitGgufMetadata refuses a truncated header or a non-GGUF file like GgufFile.open", async () => {
  const file = await write(
    "truncate.gguf",
    new Map([
      ["a", gguf.strings(["one", "two", "three"])],
      ["b", gguf.u32(1)],
    ]),
  );
  const bytes = fs.readFileSync(file);
  const cut = path.join(dir, "cut.gguf");
  fs.writeFileSync(cut, bytes.subarray(0, 40)); // inside the skipped string array
  assert.throws(() => visitGgufMetadata(cut, {}), GgufReadError);
  const notGguf = path.join(dir, "not.gguf");
  fs.writeFileSync(notGguf, Buffer.alloc(64, 1));
  assert.throws(() => visitGgufMetadata(notGguf, {}), /bad magic/);
});

test("tokenizerFromGguf (streamed) equals the tokenizer built from the whole header, id for id", async () => {
  const { tokens, types, merges } = qwen3GgufArrays();
  const file = await write(
    "qwen3-vocab.gguf",
    new Map<string, GgufValue>([
      ["general.architecture", gguf.str("qwen3")],
      ["tokenizer.ggml.model", gguf.str("gpt2")],
      ["tokenizer.ggml.pre", gguf.str("qwen2")],
      ["tokenizer.ggml.tokens", gguf.strings(tokens)],
      [
        "tokenizer.ggml.scores",
        gguf.array(
          "float32",
          tokens.map(() => 0),
        ),
      ],
      ["tokenizer.ggml.token_type", gguf.i32s(types)],
      ["tokenizer.ggml.merges", gguf.strings(merges)],
      ["tokenizer.chat_template", gguf.str("{{ messages }}")],
      ["x.nested", nested],
    ]),
  );
  const streamed = tokenizerFromGguf(file);

  const g = GgufFile.open(file);
  g.close();
  const whole = QwenTokenizer.fromVocabulary({
    tokens: g.getStringArray("tokenizer.ggml.tokens")!,
    merges: g.getStringArray("tokenizer.ggml.merges")!,
    tokenTypes: g.getNumberArray("tokenizer.ggml.token_type")!,
  });
  assert.equal(streamed.vocabSize, whole.vocabSize);
  assert.deepEqual(streamed.addedTokens, whole.addedTokens);
  for (let id = 0; id < whole.vocabSize; id++) assert.equal(streamed.idToToken(id), whole.idToToken(id));

  const reference = loadBundledQwen3Tokenizer();
  const texts = [...rtpLxPrompts().slice(0, 200), fixtureText("gen-response-moderation.txt"), "[PAD151700]"];
  for (const text of texts) {
    const ids = streamed.encode(text, { specials: true });
    assert.deepEqual(ids, whole.encode(text, { specials: true }), text);
    assert.deepEqual(ids, reference.encode(text, { specials: true }), text);
  }
});

test("a GGUF whose merges come before the tokens or types, or without types, gives the same tokenizer", async () => {
  const { tokens, types, merges } = qwen3GgufArrays();
  const entries: Record<string, [string, GgufValue]> = {
    model: ["tokenizer.ggml.model", gguf.str("gpt2")],
    tokens: ["tokenizer.ggml.tokens", gguf.strings(tokens)],
    types: ["tokenizer.ggml.token_type", gguf.i32s(types)],
    merges: ["tokenizer.ggml.merges", gguf.strings(merges)],
  };
  const reference = loadBundledQwen3Tokenizer();
  const texts = [...rtpLxPrompts().slice(0, 40), "<|im_start|>user\nhi<|im_end|>"];
  for (const order of [
    ["model", "merges", "tokens", "types"],
    ["model", "tokens", "merges", "types"],
    ["model", "tokens", "types", "merges", "types"], // a key seen again after the merges
  ]) {
    const file = await write(`order-${order.join("-")}.gguf`, new Map(order.map((k) => entries[k]!)));
    const tok = tokenizerFromGguf(file);
    assert.equal(tok.vocabSize, 151936, order.join(","));
    for (const text of texts) {
      assert.deepEqual(
        tok.encode(text, { specials: true }),
        reference.encode(text, { specials: true }),
        text,
      );
    }
  }
  // no token types: every token is a normal BPE token, none is an added token
  const untyped = tokenizerFromGguf(
    await write("untyped.gguf", new Map([entries.model!, entries.tokens!, entries.merges!])),
  );
  assert.equal(untyped.addedTokens.length, 0);
  assert.deepEqual(
    untyped.encode("hello world", { specials: true }),
    reference.encode("hello world", { specials: false }),
  );
});

test("tokenizerFromGguf keeps its errors: wrong model, missing or mistyped arrays, bad token types", async () => {
  const base = (): GgufMetadata =>
    new Map<string, GgufValue>([
      ["tokenizer.ggml.model", gguf.str("gpt2")],
      ["tokenizer.ggml.tokens", gguf.strings(["a", "b"])],
      ["tokenizer.ggml.merges", gguf.strings([])],
    ]);
  const cases: [string, (md: GgufMetadata) => void, RegExp][] = [
    ["llama", (md) => md.set("tokenizer.ggml.model", gguf.str("llama")), /tokenizer.ggml.model is llama;/],
    ["no-model", (md) => md.delete("tokenizer.ggml.model"), /tokenizer.ggml.model is missing;/],
    [
      "array-model",
      (md) => md.set("tokenizer.ggml.model", gguf.strings(["gpt2"])),
      /tokenizer.ggml.model is missing;/,
    ],
    [
      "no-tokens",
      (md) => md.delete("tokenizer.ggml.tokens"),
      /tokenizer.ggml.tokens is missing or not an array of strings/,
    ],
    [
      "int-merges",
      (md) => md.set("tokenizer.ggml.merges", gguf.i32s([1])),
      /tokenizer.ggml.merges is missing or not an array of strings/,
    ],
    [
      "scalar-tokens",
      (md) => md.set("tokenizer.ggml.tokens", gguf.str("a")),
      /tokenizer.ggml.tokens is missing or not an array of strings/,
    ],
    [
      "string-types",
      (md) => md.set("tokenizer.ggml.token_type", gguf.strings(["x", "y"])),
      /token 0 has type NaN/,
    ],
    [
      "type-count",
      (md) => md.set("tokenizer.ggml.token_type", gguf.i32s([1])),
      /tokenTypes has 1 entries for 2 tokens/,
    ],
    ["no-byte-tokens", (md) => md.set("tokenizer.ggml.token_type", gguf.i32s([1, 1])), /byte-level token/],
  ];
  for (const [name, change, message] of cases) {
    const md = base();
    change(md);
    const file = await write(`${name}.gguf`, md);
    assert.throws(
      () => tokenizerFromGguf(file),
      (e: unknown) => e instanceof TokenizerFormatError && message.test(e.message),
      name,
    );
  }
});
