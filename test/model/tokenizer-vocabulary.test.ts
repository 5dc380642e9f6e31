import { test } from "node:test";
import assert from "node:assert/strict";
import os from "node:os";
import path from "node:path";
import {
  QwenTokenizer,
  QWEN2_SPLIT_PATTERN,
  TokenizerFormatError,
  TokenizerUsageError,
  loadBundledQwen3Tokenizer,
} from "../../src/model/tokenizer/index.js";
import { BYTE_TO_CHAR } from "../../src/model/tokenizer/byte-level.js";
import { fixtureText, qwen3GgufArrays, rtpLxPrompts } from "./tokenizer-test-data.js";

/** A minimal tokenizer.json: the 256 byte tokens, then the tokens the merges make. */
function tinyTokenizerJson(merges: [string, string][], asStrings: boolean, added: string[] = []): object {
  const vocab: Record<string, number> = {};
  BYTE_TO_CHAR.forEach((c, i) => (vocab[c] = i));
  for (const [a, b] of merges) vocab[a + b] ??= Object.keys(vocab).length;
  const size = Object.keys(vocab).length;
  return {
    version: "1.0",
    added_tokens: added.map((content, i) => ({ id: size + i, content, special: true, normalized: false })),
    normalizer: { type: "NFC" },
    pre_tokenizer: {
      type: "Sequence",
      pretokenizers: [
        { type: "Split", pattern: { Regex: QWEN2_SPLIT_PATTERN }, behavior: "Isolated", invert: false },
        { type: "ByteLevel", add_prefix_space: false, trim_offsets: false, use_regex: false },
      ],
    },
    decoder: { type: "ByteLevel" },
    model: {
      type: "BPE",
      vocab,
      merges: asStrings ? merges.map(([a, b]) => `${a} ${b}`) : merges,
      byte_fallback: false,
      ignore_merges: false,
    },
  };
}

const TINY_MERGES: [string, string][] = [
  ["a", "a"],
  ["h", "e"],
  ["l", "l"],
  ["he", "ll"],
  ["hell", "o"],
  ["Ġ", "w"],
];

test("tiny vocabulary: lowest rank first, leftmost on ties; both merge spellings give the same tokenizer", () => {
  for (const asStrings of [true, false]) {
    const tok = QwenTokenizer.fromTokenizerJson(tinyTokenizerJson(TINY_MERGES, asStrings, ["<|end|>"]));
    const pieces = (text: string) => tok.encode(text, { specials: true }).map((id) => tok.idToToken(id));
    assert.deepEqual(pieces("hello"), ["hello"]);
    assert.deepEqual(pieces("aaa"), ["aa", "a"]);
    assert.deepEqual(pieces("aaaa"), ["aa", "aa"]);
    assert.deepEqual(pieces("hellow w"), ["hello", "w", "Ġw"]);
    assert.deepEqual(pieces("hi<|end|>"), ["h", "i", "<|end|>"]);
    assert.equal(tok.decode(tok.encode("hello wörld", { specials: false })), "hello wörld");
  }
});

test("fromVocabulary with GGUF arrays equals fromTokenizerJson on real text", () => {
  const { tokens, types, merges } = qwen3GgufArrays();
  const fromArrays = QwenTokenizer.fromVocabulary({
    tokens,
    merges,
    tokenTypes: types,
  });
  const reference = loadBundledQwen3Tokenizer();
  assert.equal(fromArrays.vocabSize, 151936);
  const texts = [...rtpLxPrompts().slice(0, 300), fixtureText("gen-response-moderation.txt"), "[PAD151700]"];
  for (const text of texts) {
    assert.deepEqual(
      fromArrays.encode(text, { specials: true }),
      reference.encode(text, { specials: true }),
      text,
    );
  }
  assert.equal(fromArrays.addedTokenId("<think>"), 151667);
  assert.ok(fromArrays.isSpecialToken(151645) && !fromArrays.isSpecialToken(151667));
});

test("bad input gets typed errors that say what is wrong", () => {
  const noBytes = tinyTokenizerJson([], true) as { model: { vocab: Record<string, number> } };
  delete noBytes.model.vocab["Ġ"];
  assert.throws(
    () => QwenTokenizer.fromTokenizerJson(noBytes),
    (e) => e instanceof TokenizerFormatError && /byte/.test(e.message),
  );
  const wrongSplit = tinyTokenizerJson([], true) as { pre_tokenizer: unknown };
  wrongSplit.pre_tokenizer = { type: "ByteLevel", add_prefix_space: false, use_regex: true };
  assert.throws(() => QwenTokenizer.fromTokenizerJson(wrongSplit), /unsupported pre_tokenizer/);
  assert.throws(
    () => QwenTokenizer.fromVocabulary({ tokens: [...BYTE_TO_CHAR], merges: ["a b"] }),
    (e) => e instanceof TokenizerFormatError && /merge #0/.test(e.message),
  );
  assert.throws(
    () => QwenTokenizer.fromVocabulary({ tokens: [...BYTE_TO_CHAR], merges: ["ab"] }),
    /one space/,
  );
  assert.throws(
    () => QwenTokenizer.fromVocabulary({ tokens: [...BYTE_TO_CHAR], merges: [], tokenTypes: [6] }),
    /tokenTypes has 1 entries/,
  );
  const missing = path.join(os.tmpdir(), "no-such-dir-qwen3guard", "tokenizer.json");
  assert.throws(
    () => QwenTokenizer.fromTokenizerJson(missing),
    (e) => e instanceof TokenizerFormatError && e.message.includes(missing),
  );
  const tok = QwenTokenizer.fromVocabulary({ tokens: [...BYTE_TO_CHAR], merges: [] });
  assert.throws(() => tok.decode([999]), TokenizerUsageError);
  assert.throws(() => tok.addedTokenId("<|im_end|>"), TokenizerUsageError);
  assert.throws(() => tok.encodeSegments([{ kind: "system" as "template", text: "x" }]), TokenizerUsageError);
});
