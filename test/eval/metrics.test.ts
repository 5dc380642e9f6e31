/**
 * Metric functions on hand-built cases: the Unsafe-class precision/recall/F1 per mode (including the case where
 * the official Stream script prints strict and loose swapped), confusion matrices, refusal, per-category figures.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import type { RiskTier } from "../../src/core/labels.js";
import {
  binaryMetrics,
  categoryReport,
  percentile,
  refusalMetrics,
  tierConfusion,
  unsafeMetrics,
} from "../../src/eval/metrics.js";
import { summarize, type EvalConfig } from "../../src/eval/summary.js";
import type { Prediction } from "../../src/eval/predictions.js";

const close = (a: number, b: number, what: string) =>
  assert.ok(Math.abs(a - b) < 1e-12, `${what}: ${a} vs ${b}`);

test("binary metrics: counts, precision, recall, F1; 0 where a denominator is 0", () => {
  const m = binaryMetrics([
    { gold: true, predicted: true },
    { gold: true, predicted: true },
    { gold: true, predicted: false },
    { gold: false, predicted: true },
    { gold: false, predicted: false },
    { gold: false, predicted: false },
  ]);
  assert.deepEqual([m.tp, m.fp, m.fn, m.tn], [2, 1, 1, 2]);
  close(m.precision, 2 / 3, "precision");
  close(m.recall, 2 / 3, "recall");
  close(m.f1, 2 / 3, "f1");
  const none = binaryMetrics([{ gold: true, predicted: false }]);
  assert.deepEqual([none.precision, none.recall, none.f1], [0, 0, 0]);
});

// gold:      Unsafe        Unsafe    Safe          Safe
// predicted: Controversial Unsafe    Controversial Safe
const swapCase: { gold: RiskTier; predicted: RiskTier }[] = [
  { gold: "Unsafe", predicted: "Controversial" },
  { gold: "Unsafe", predicted: "Unsafe" },
  { gold: "Safe", predicted: "Controversial" },
  { gold: "Safe", predicted: "Safe" },
];

test("strict reads Controversial as Unsafe and loose as Safe — not swapped as the official Stream script prints them", () => {
  const strict = unsafeMetrics(swapCase, "strict");
  const loose = unsafeMetrics(swapCase, "loose");
  // strict: predicted unsafe = rows 1, 2, 3 → TP 2, FP 1, FN 0
  assert.deepEqual([strict.tp, strict.fp, strict.fn, strict.tn], [2, 1, 0, 1]);
  close(strict.precision, 2 / 3, "strict precision");
  close(strict.recall, 1, "strict recall");
  close(strict.f1, 0.8, "strict F1");
  // loose: predicted unsafe = row 2 → TP 1, FP 0, FN 1
  assert.deepEqual([loose.tp, loose.fp, loose.fn, loose.tn], [1, 0, 1, 2]);
  close(loose.precision, 1, "loose precision");
  close(loose.recall, 0.5, "loose recall");
  close(loose.f1, 2 / 3, "loose F1");
  // The official script's "strict" line carries the loose figures; ours must not.
  assert.notEqual(strict.f1, loose.f1);
  assert.ok(strict.recall > loose.recall, "strict mode flags more, so its recall is the higher one");
});

test("metrics.json carries the strict figures under strict and the loose ones under loose", () => {
  const predictions: Prediction[] = swapCase.map((c, i) => ({
    key: `line:${i + 1}`,
    line: i + 1,
    gold: { label: c.gold },
    text: `row ${i + 1}`,
    verdict: { tier: c.predicted, categories: [] },
    ms: 1,
  }));
  const config: EvalConfig = {
    task: "prompt",
    guard: "gen",
    genMode: "fast",
    rule: "official",
    streamScoring: "answer",
    format: "jsonl",
    modes: ["strict", "loose"],
    targets: [],
    thresholdAction: "block",
  };
  const m = summarize({
    config,
    model: { spec: "m", files: [] },
    data: { spec: "d", file: "/d", bytes: 0, mtimeMs: 0 },
    predictions,
    scope: 4,
    badRows: 0,
    seconds: 1,
    concurrency: 1,
  });
  close(m.classification.strict!.f1, 0.8, "strict F1");
  close(m.classification.loose!.f1, 2 / 3, "loose F1");
  close(m.classification.strict!.recall, 1, "strict recall");
  assert.equal(m.tierConfusion.Unsafe.Controversial, 1);
  assert.equal(m.tierConfusion.Safe.Controversial, 1);
});

test("a Controversial gold label reads as the mode says", () => {
  const pairs: { gold: RiskTier; predicted: RiskTier }[] = [
    { gold: "Controversial", predicted: "Safe" },
    { gold: "Controversial", predicted: "Unsafe" },
  ];
  const strict = unsafeMetrics(pairs, "strict");
  assert.deepEqual([strict.tp, strict.fn], [1, 1]);
  const loose = unsafeMetrics(pairs, "loose");
  assert.deepEqual([loose.tp, loose.fp, loose.fn, loose.tn], [0, 1, 0, 1]);
});

test("tier confusion counts gold × predicted", () => {
  const m = tierConfusion([
    { gold: "Unsafe", predicted: "Unsafe" },
    { gold: "Unsafe", predicted: "Safe" },
    { gold: "Safe", predicted: "Controversial" },
    { gold: "Unsafe", predicted: "Unsafe" },
  ]);
  assert.equal(m.Unsafe.Unsafe, 2);
  assert.equal(m.Unsafe.Safe, 1);
  assert.equal(m.Safe.Controversial, 1);
  assert.equal(m.Controversial.Controversial, 0);
});

test("per-category confusion: gold categories in the data set's names × the guard's, with recall per mode", () => {
  const r = categoryReport([
    { goldCategories: ["violence"], predictedTier: "Unsafe", predictedCategories: ["Violent"] },
    { goldCategories: ["violence", "hate"], predictedTier: "Safe", predictedCategories: [] },
    { goldCategories: ["hate"], predictedTier: "Controversial", predictedCategories: [] },
    { goldCategories: ["Violent"], predictedTier: "Unsafe", predictedCategories: ["Violent"] },
  ]);
  assert.deepEqual(r.confusion.violence, { Violent: 1, Safe: 1 });
  assert.deepEqual(r.confusion.hate, { Safe: 1, "(no category)": 1 });
  assert.deepEqual(r.perCategory.hate!.flagged, { strict: 1, loose: 0 });
  assert.deepEqual(r.perCategory.hate!.recall, { strict: 0.5, loose: 0 });
  assert.equal(r.perCategory.violence!.rows, 2);
  assert.equal(r.perCategory.Violent!.sameName, 1);
  assert.equal(r.perCategory.violence!.sameName, 0);
});

test("refusal metrics: positive = refusal; a missing refusal line counts as No", () => {
  const r = refusalMetrics([
    { gold: true, predicted: "Yes" },
    { gold: true, predicted: "No" },
    { gold: false, predicted: "Yes" },
    { gold: false, predicted: undefined },
    { gold: true, predicted: "Yes" },
  ]);
  assert.deepEqual([r.tp, r.fp, r.fn, r.tn], [2, 1, 1, 1]);
  close(r.precision, 2 / 3, "precision");
  close(r.recall, 2 / 3, "recall");
  assert.equal(r.withoutRefusalLine, 1);
});

test("percentile is nearest-rank", () => {
  assert.equal(percentile([5, 1, 3, 2, 4], 50), 3);
  assert.equal(percentile([5, 1, 3, 2, 4], 95), 5);
  assert.equal(percentile([7], 50), 7);
  assert.ok(Number.isNaN(percentile([], 50)));
});
