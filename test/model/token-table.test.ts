/** The compact token table behind QwenTokenizer: tokens by id, and the BPE index with the first id of a string. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { TokenTableBuilder } from "../../src/model/tokenizer/token-table.js";

test("tokens by id, holes, and the BPE index (the first id of a repeated string, marked tokens only)", () => {
  const tokens = ["a", "Ġthe", undefined, "", "<|x|>", "Ġthe", "é", "a"];
  const builder = new TokenTableBuilder(tokens.length + 2); // two ids with no token at the end
  for (const t of tokens) builder.push(t);
  for (const id of [0, 1, 3, 5, 6, 7]) builder.markBpe(id);
  assert.equal(builder.tokenLength(1), 4);
  assert.equal(builder.tokenLength(2), 0);
  const table = builder.build();
  assert.equal(table.size, 10);
  assert.deepEqual(
    Array.from({ length: 11 }, (_, id) => table.token(id)),
    [...tokens, undefined, undefined, undefined],
  );
  assert.equal(table.token(-1), undefined);
  assert.equal(table.token(1.5), undefined);
  assert.equal(table.bpeId("a"), 0);
  assert.equal(table.bpeId("Ġthe"), 1);
  assert.equal(table.bpeId(""), 3);
  assert.equal(table.bpeId("é"), 6);
  assert.equal(table.bpeId("<|x|>"), undefined, "not marked: an added token");
  assert.equal(table.bpeId("Ġth"), undefined);
  assert.equal(table.bpeId("the"), undefined);
  assert.deepEqual([...table.bpeTokens()], ["a", "Ġthe", "", "é"]);
});

test("a large table (more tokens than one chunk) finds every token", () => {
  const n = 20_000;
  const builder = new TokenTableBuilder(n);
  for (let id = 0; id < n; id++) builder.push(`t${id.toString(36)}Ġ`);
  for (let id = 0; id < n; id++) builder.markBpe(id);
  const table = builder.build();
  for (let id = 0; id < n; id += 7) {
    assert.equal(table.token(id), `t${id.toString(36)}Ġ`);
    assert.equal(table.bpeId(`t${id.toString(36)}Ġ`), id);
  }
  assert.equal([...table.bpeTokens()].length, n);
  assert.throws(() => builder.push("x"), RangeError);
});
