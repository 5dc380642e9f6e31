import { test } from "node:test";
import assert from "node:assert/strict";
import {
  PROMPT_CATEGORIES,
  RESPONSE_CATEGORIES,
  binaryTier,
  categoriesFor,
  isCategory,
  isUnsafeUnder,
} from "../src/core/labels.js";

test("prompt side has 9 categories with Jailbreak, response side 8 without", () => {
  assert.equal(PROMPT_CATEGORIES.length, 9);
  assert.equal(RESPONSE_CATEGORIES.length, 8);
  assert.ok(isCategory("Jailbreak", "prompt"));
  assert.ok(!isCategory("Jailbreak", "response"));
  assert.deepEqual(categoriesFor("response"), RESPONSE_CATEGORIES);
});

test("strict maps Controversial to Unsafe, loose to Safe", () => {
  assert.equal(binaryTier("Controversial", "strict"), "Unsafe");
  assert.equal(binaryTier("Controversial", "loose"), "Safe");
  for (const mode of ["strict", "loose"] as const) {
    assert.equal(isUnsafeUnder("Unsafe", mode), true);
    assert.equal(isUnsafeUnder("Safe", mode), false);
  }
});
