/**
 * Precision–recall curves and threshold suggestions on hand-built scores; the suggested YAML is a valid policy
 * whose threshold fires exactly for the rows the chosen point counts.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { chooseThreshold, prCurve, shortestThreshold, thresholdYaml } from "../../src/eval/curves.js";
import { loadPolicy } from "../../src/guard/policy/load.js";
import { decide } from "../../src/core/policy/decide.js";

const samples = [
  { score: 0.9, gold: true },
  { score: 0.8, gold: false },
  { score: 0.7, gold: true },
  { score: 0.6, gold: true },
  { score: 0.3, gold: false },
  { score: 0.1, gold: true },
];

test("the curve has one point per distinct score, and its average precision", () => {
  const c = prCurve(samples);
  assert.deepEqual(
    c.points.map((p) => [p.threshold, p.tp, p.fp, p.fn]),
    [
      [0.9, 1, 0, 3],
      [0.8, 1, 1, 3],
      [0.7, 2, 1, 2],
      [0.6, 3, 1, 1],
      [0.3, 3, 2, 1],
      [0.1, 4, 2, 0],
    ],
  );
  assert.deepEqual(
    c.points.map((p) => p.recall),
    [0.25, 0.25, 0.5, 0.75, 0.75, 1],
  );
  assert.equal(c.points[3]!.precision, 0.75);
  // AP = .25·1 + .25·(2/3) + .25·.75 + .25·(4/6)
  assert.ok(Math.abs(c.averagePrecision - (0.25 + 0.25 * (2 / 3) + 0.25 * 0.75 + 0.25 * (4 / 6))) < 1e-12);
  assert.deepEqual([c.positives, c.negatives], [4, 2]);
  const tied = prCurve([
    { score: 0.5, gold: true },
    { score: 0.5, gold: false },
  ]);
  assert.equal(tied.points.length, 1);
});

test("a precision target takes the highest recall that reaches it; a recall target the highest precision", () => {
  const p70 = chooseThreshold(samples, { precision: 0.7 })!;
  assert.equal(p70.point.threshold, 0.6);
  assert.equal(p70.atLeast, 0.6);
  assert.deepEqual([p70.precision, p70.recall], [0.75, 0.75]);
  const p90 = chooseThreshold(samples, { precision: 0.9 })!;
  assert.equal(p90.atLeast, 0.9);
  assert.equal(p90.recall, 0.25);
  const r100 = chooseThreshold(samples, { recall: 1 })!;
  assert.equal(r100.atLeast, 0.1);
  assert.equal(r100.precision, 4 / 6);
  const r50 = chooseThreshold(samples, { recall: 0.5 })!;
  assert.equal(r50.point.threshold, 0.6, "recall 0.75 at precision 0.75 beats recall 0.5 at 0.667");
  assert.equal(chooseThreshold([{ score: 0.5, gold: false }], { precision: 0.5 }), undefined);
});

test("the threshold written is the shortest decimal that keeps the point's rows (policy tolerance 1e-9)", () => {
  assert.equal(shortestThreshold(0.734, 0.73), 0.734);
  assert.equal(shortestThreshold(0.7349, 0.2), 0.7);
  assert.equal(shortestThreshold(0.5, undefined), 0.5);
  // scores closer than the policy's tolerance cannot be told apart: the point's own score is written
  assert.equal(shortestThreshold(0.9999999999, 0.99999999985), 0.9999999999);
  const tied = chooseThreshold(
    [
      { score: 0.9999999999, gold: true },
      { score: 0.99999999985, gold: false },
    ],
    { precision: 1 },
  )!;
  assert.equal(tied.point.precision, 1);
  assert.equal(tied.precision, 0.5, "recomputed with the policy's comparison, the neighbour fires too");
});

test("the YAML is a valid policy whose threshold fires exactly at and above the chosen score", async () => {
  const choice = chooseThreshold(samples, { precision: 0.7 })!;
  const yaml = thresholdYaml({
    direction: "prompt",
    when: "unsafe",
    atLeast: choice.atLeast,
    action: "block",
    comments: ["target precision 0.7"],
  });
  assert.match(
    yaml,
    /^# target precision 0.7\nprompt:\n {2}thresholds:\n {4}- when: unsafe\n {6}atLeast: 0.6\n {6}action: block\n$/,
  );
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "eval-yaml-"));
  try {
    const file = path.join(dir, "p.yaml");
    fs.writeFileSync(file, yaml);
    const { policy } = await loadPolicy(file);
    for (const s of samples) {
      const d = decide(policy, {
        direction: "prompt",
        tier: "Safe",
        categories: [],
        probabilities: { Safe: 1 - s.score, Unsafe: s.score, Controversial: 0 },
      });
      assert.equal(d.action, s.score >= 0.6 ? "block" : "allow", `score ${s.score}`);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
