import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { decide } from "../../src/core/policy/index.js";
import type { Category, Direction, RiskTier } from "../../src/core/labels.js";
import type { PolicyInput } from "../../src/core/policy/index.js";
import { loadPolicyFile } from "../../src/guard/policy/index.js";

const EXAMPLES = "examples/policies";

function verdict(direction: Direction, tier: RiskTier, category?: Category, unsafe?: number): PolicyInput {
  return {
    direction,
    tier,
    categories: category ? [category] : [],
    ...(unsafe === undefined
      ? {}
      : { probabilities: { Safe: 1 - unsafe, Unsafe: unsafe, Controversial: 0 } }),
  };
}

test("the short example: Violent and Jailbreak blocked at Controversial and above, PST flagged, PII allowed in responses", async () => {
  const text = readFileSync(`${EXAMPLES}/chat-assistant.yaml`, "utf8");
  assert.ok(text.trim().split("\n").length <= 11, "the example stays about ten lines");
  const p = await loadPolicyFile(`${EXAMPLES}/chat-assistant.yaml`);
  // [verdict, expected action, expected deciding rule]
  const rows: [PolicyInput, string, string][] = [
    [verdict("prompt", "Controversial", "Violent"), "block", "prompt.categories.Violent.Controversial"],
    [verdict("prompt", "Unsafe", "Violent"), "block", "prompt.categories.Violent.Unsafe"],
    [verdict("prompt", "Controversial", "Jailbreak"), "block", "prompt.categories.Jailbreak.Controversial"],
    [verdict("response", "Controversial", "Violent"), "block", "response.categories.Violent.Controversial"],
    [
      verdict("prompt", "Unsafe", "Politically Sensitive Topics"),
      "flag",
      'prompt.categories["Politically Sensitive Topics"].Unsafe',
    ],
    [
      verdict("response", "Controversial", "Politically Sensitive Topics"),
      "flag",
      'response.categories["Politically Sensitive Topics"].Controversial',
    ],
    [verdict("response", "Unsafe", "PII"), "allow", "response.categories.PII.Unsafe"],
    [verdict("prompt", "Unsafe", "PII"), "block", "builtin.Unsafe"], // PII is only allowed in responses
    [verdict("response", "Controversial", "Unethical Acts"), "allow", "builtin.Safe"], // loose mode
    [verdict("response", "Unsafe", "Unethical Acts"), "block", "builtin.Unsafe"],
    [verdict("prompt", "Safe"), "allow", "builtin.Safe"],
  ];
  for (const [input, action, rule] of rows) {
    const d = decide(p, input);
    assert.equal(d.action, action, JSON.stringify(input));
    const decisive = d.reasons.find((r) => r.decisive);
    assert.equal(decisive?.rule, rule, JSON.stringify(input));
  }
});

test("the base/product pair: the product relaxes PII and Controversial, the base's threshold still blocks", async () => {
  const base = await loadPolicyFile(`${EXAMPLES}/company-base.yaml`);
  const product = await loadPolicyFile(`${EXAMPLES}/support-bot.yaml`);
  assert.equal(product.mode, "strict");
  assert.equal(product.name, "support-bot");
  assert.deepEqual(product.sources, [`${EXAMPLES}/company-base.yaml`, `${EXAMPLES}/support-bot.yaml`]);

  assert.equal(decide(base, verdict("response", "Unsafe", "PII", 0.6)).action, "block");
  assert.equal(decide(product, verdict("response", "Unsafe", "PII", 0.6)).action, "flag");
  // The base's P(Unsafe) ≥ 0.7 threshold is inherited and escalates the product's flag to block.
  const high = decide(product, verdict("response", "Unsafe", "PII", 0.8));
  assert.equal(high.action, "block");
  assert.equal(high.reasons.find((r) => r.decisive)?.rule, "response.thresholds[0]");
  // Controversial answers: blocked by the strict base, flagged by the product.
  assert.equal(decide(base, verdict("response", "Controversial", "Unethical Acts")).action, "block");
  assert.equal(decide(product, verdict("response", "Controversial", "Unethical Acts")).action, "flag");
  // The product only changed responses: prompts follow the base.
  assert.equal(decide(product, verdict("prompt", "Controversial", "Violent")).action, "block");
  assert.equal(decide(product, verdict("prompt", "Unsafe", "Politically Sensitive Topics")).action, "flag");
});
