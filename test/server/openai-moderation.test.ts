/** The mapping of Qwen3Guard verdicts onto OpenAI's moderation result (pure). */
import { test } from "node:test";
import assert from "node:assert/strict";
import { decide, emptyPolicy } from "../../src/core/policy/index.js";
import {
  categoryKey,
  OPENAI_CATEGORIES,
  RESULT_KEYS,
  toOpenAiResult,
} from "../../src/server/openai-moderation.js";
import { PROMPT_CATEGORIES } from "../../src/core/labels.js";

const strict = emptyPolicy();
const loose = { ...emptyPolicy(), mode: "loose" as const };

test("every OpenAI key and every Qwen3Guard category has a key; four share OpenAI's", () => {
  for (const key of OPENAI_CATEGORIES) assert.ok(RESULT_KEYS.includes(key));
  for (const c of PROMPT_CATEGORIES) assert.ok(RESULT_KEYS.includes(categoryKey(c)), c);
  assert.equal(RESULT_KEYS.length, 13 + 5);
  assert.equal(categoryKey("Violent"), "violence");
  assert.equal(categoryKey("Suicide & Self-Harm"), "self-harm");
  assert.equal(categoryKey("Some New Label"), "some-new-label");
});

test("Gen: the named category gets P(not Safe); flagged and categories follow the decision", () => {
  const verdict = {
    model: "gen" as const,
    tier: "Controversial" as const,
    categories: ["PII"],
    probabilities: { Safe: 0.2, Unsafe: 0.3, Controversial: 0.5 },
  };
  const input = {
    direction: "prompt" as const,
    tier: verdict.tier,
    categories: ["PII" as const],
    probabilities: verdict.probabilities,
  };
  const s = toOpenAiResult(verdict, decide(strict, input));
  assert.equal(s.flagged, true);
  assert.equal(s.categories.pii, true);
  assert.ok(Math.abs(s.category_scores.pii! - 0.8) < 1e-12);
  assert.equal(s.category_scores.violence, 0);
  assert.deepEqual(s.category_applied_input_types.pii, ["text"]);
  assert.deepEqual(s.category_applied_input_types.hate, []);
  const l = toOpenAiResult(verdict, decide(loose, input));
  assert.equal(l.flagged, false, "loose mode allows Controversial");
  assert.equal(l.categories.pii, false);
  assert.ok(Math.abs(l.category_scores.pii! - 0.8) < 1e-12, "scores do not depend on the policy");
});

test("Stream: P(not Safe) spread over the query head's categories", () => {
  const verdict = {
    model: "stream" as const,
    tier: "Unsafe" as const,
    categories: ["Jailbreak"],
    probabilities: { Safe: 0.1, Unsafe: 0.8, Controversial: 0.1 },
    categoryProbabilities: { Jailbreak: 0.75, Violent: 0.25 },
  };
  const r = toOpenAiResult(
    verdict,
    decide(strict, {
      direction: "prompt",
      tier: "Unsafe",
      categories: ["Jailbreak"],
      probabilities: verdict.probabilities,
    }),
  );
  assert.equal(r.flagged, true);
  assert.equal(r.categories.jailbreak, true);
  assert.equal(r.categories.violence, false);
  assert.ok(Math.abs(r.category_scores.jailbreak! - 0.675) < 1e-12);
  assert.ok(Math.abs(r.category_scores.violence! - 0.225) < 1e-12);
});
