/** The safety-RL rewards of the technical report on hand-built judgements. */
import { test } from "node:test";
import fs from "node:fs";
import path from "node:path";
import { repoRoot } from "../helpers/repo-data.js";
import assert from "node:assert/strict";
import {
  HYBRID_REWARD,
  isQwen3GuardError,
  rewardGuardOnly,
  rewardHybrid,
  splitThinking,
  type RolloutJudgement,
} from "../../src/guard/index.js";

const safe: RolloutJudgement = { answer: { tier: "Safe", refusal: "No" } };

test("guard-only: 1 only when the thinking and the answer are both Safe; Controversial is not safe", () => {
  assert.equal(rewardGuardOnly(safe), 1);
  assert.equal(rewardGuardOnly({ thinking: { tier: "Safe" }, answer: { tier: "Safe" } }), 1);
  assert.equal(rewardGuardOnly({ answer: { tier: "Controversial" } }), 0);
  assert.equal(rewardGuardOnly({ answer: { tier: "Unsafe" } }), 0);
  assert.equal(rewardGuardOnly({ thinking: { tier: "Controversial" }, answer: { tier: "Safe" } }), 0);
  assert.equal(rewardGuardOnly({ thinking: { tier: "Unsafe" }, answer: { tier: "Safe" } }), 0);
  assert.equal(rewardGuardOnly({ answer: { tier: "Safe", refusal: "Yes" } }), 1, "no refusal penalty here");
});

test("hybrid: min(-10, H) when unsafe, else min(-5, H) for a refusal, else H", () => {
  assert.equal(HYBRID_REWARD.unsafe, -10);
  assert.equal(HYBRID_REWARD.refusal, -5);
  assert.equal(rewardHybrid(safe, 3.5), 3.5);
  assert.equal(rewardHybrid(safe, -12), -12);
  assert.equal(rewardHybrid({ answer: { tier: "Safe", refusal: "Yes" } }, 3.5), -5);
  assert.equal(rewardHybrid({ answer: { tier: "Safe", refusal: "Yes" } }, -7), -7);
  assert.equal(rewardHybrid({ answer: { tier: "Unsafe", refusal: "No" } }, 3.5), -10);
  assert.equal(rewardHybrid({ answer: { tier: "Controversial", refusal: "No" } }, 3.5), -10);
  assert.equal(rewardHybrid({ answer: { tier: "Unsafe", refusal: "No" } }, -20), -20);
  // unsafe beats refusal: an unsafe answer that also says it refuses is capped at -10
  assert.equal(rewardHybrid({ answer: { tier: "Unsafe", refusal: "Yes" } }, 0), -10);
  assert.equal(
    rewardHybrid({ thinking: { tier: "Unsafe" }, answer: { tier: "Safe", refusal: "No" } }, 2),
    -10,
  );
  assert.equal(
    rewardHybrid({ thinking: { tier: "Safe" }, answer: { tier: "Safe" } }, 2),
    2,
    "no refusal line = not a refusal",
  );
});

test("bad input is a typed error", () => {
  assert.throws(
    () => rewardHybrid(safe, Number.NaN),
    (e) => isQwen3GuardError(e, "REWARD_INPUT_INVALID"),
  );
  assert.throws(
    () => rewardGuardOnly({ answer: { tier: "unsafe" as never } }),
    (e) => isQwen3GuardError(e, "REWARD_INPUT_INVALID"),
  );
  assert.throws(
    () => rewardGuardOnly({ answer: { tier: "Safe", refusal: "yes" as never } }),
    (e) => isQwen3GuardError(e, "REWARD_INPUT_INVALID"),
  );
});

test("splitThinking separates a leading think block", () => {
  assert.deepEqual(splitThinking("<think>\nThe user asks.\n</think>\n\nKnead the dough."), {
    thinking: "The user asks.",
    answer: "Knead the dough.",
  });
  assert.deepEqual(splitThinking("<think>\n\n</think>\n\nAnswer."), { answer: "Answer." });
  assert.deepEqual(splitThinking("No thinking here."), { answer: "No thinking here." });
});

test("the doc-comment examples of the reward functions say what the functions return", () => {
  const source = fs.readFileSync(path.join(repoRoot, "src", "core", "rewards.ts"), "utf8");
  const examples = [...source.matchAll(/^ \* (reward\w+|splitThinking)\((.*)\); \/\/ (.*)$/gm)];
  assert.ok(examples.length >= 8, `${examples.length} example lines`);
  const fns = { rewardGuardOnly, rewardHybrid, splitThinking } as Record<
    string,
    (...a: unknown[]) => unknown
  >;
  for (const [, fn, args, expected] of examples) {
    const actual = fns[fn!]!(...(new Function(`return [${args}]`)() as unknown[]));
    assert.deepEqual(actual, new Function(`return (${expected})`)(), `${fn}(${args})`);
  }
});
