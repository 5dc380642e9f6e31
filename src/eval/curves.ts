/**
 * Precision–recall curves from the tier probabilities of verdicts, and the probability threshold that reaches a
 * target precision or recall, written as a policy threshold (docs/policies.md). Pure: no I/O.
 *
 * A score is what a policy threshold measures (`when`): P(Unsafe) (`unsafe`) or P(Unsafe) + P(Controversial)
 * (`unsafe+controversial`). At threshold t a row is predicted unsafe when its score ≥ t; the curve has one point
 * per distinct score. A policy threshold fires when `score + 1e-9 ≥ atLeast`; the suggested `atLeast` is the
 * shortest decimal that keeps exactly the rows of the chosen point, and its precision and recall are recomputed
 * with the policy's own comparison.
 */
import { stringify } from "yaml";
import { measure } from "../core/policy/decide.js";
import type { PolicyAction, ThresholdMeasure } from "../core/policy/types.js";
import type { Direction } from "../core/labels.js";
import type { TierProbabilities } from "../core/verdict.js";
import { metricsFromCounts } from "./metrics.js";

/** The scores curves are drawn for (a subset of the policy threshold measures). */
export const CURVE_SCORES = ["unsafe", "unsafe+controversial"] as const satisfies readonly ThresholdMeasure[];
export type CurveScore = (typeof CURVE_SCORES)[number];

/** The same comparison the policy engine makes. */
const POLICY_EPSILON = 1e-9;

export function scoreOf(probabilities: TierProbabilities, score: CurveScore): number {
  return measure(probabilities, score);
}

export interface ScoredSample {
  score: number;
  gold: boolean;
}

export interface CurvePoint {
  threshold: number;
  precision: number;
  recall: number;
  tp: number;
  fp: number;
  fn: number;
}

export interface PrCurve {
  points: CurvePoint[];
  positives: number;
  negatives: number;
  /** Area under the step curve: Σ (R_k − R_{k−1}) · P_k over the points in order of falling threshold. */
  averagePrecision: number;
}

/** The precision–recall curve of scored samples (points in order of falling threshold). */
export function prCurve(samples: readonly ScoredSample[]): PrCurve {
  const sorted = [...samples].sort((a, b) => b.score - a.score);
  const positives = sorted.filter((s) => s.gold).length;
  const negatives = sorted.length - positives;
  const points: CurvePoint[] = [];
  let tp = 0;
  let fp = 0;
  let ap = 0;
  let lastRecall = 0;
  for (let i = 0; i < sorted.length;) {
    const threshold = sorted[i]!.score;
    while (i < sorted.length && sorted[i]!.score === threshold) {
      if (sorted[i]!.gold) tp++;
      else fp++;
      i++;
    }
    const m = metricsFromCounts({ tp, fp, fn: positives - tp, tn: negatives - fp });
    points.push({ threshold, precision: m.precision, recall: m.recall, tp, fp, fn: positives - tp });
    ap += (m.recall - lastRecall) * m.precision;
    lastRecall = m.recall;
  }
  return { points, positives, negatives, averagePrecision: positives > 0 ? ap : 0 };
}

export type ThresholdTarget = { precision: number } | { recall: number };

export interface ThresholdChoice {
  target: ThresholdTarget;
  /** The curve point chosen. */
  point: CurvePoint;
  /** The value to write as `atLeast`. */
  atLeast: number;
  /** Precision and recall of `atLeast` with the policy's comparison (equal to the point's unless scores tie within 1e-9). */
  precision: number;
  recall: number;
  f1: number;
}

/**
 * The threshold that reaches a target: for a precision target, the point with the highest recall among those
 * whose precision is at least the target; for a recall target, the point with the highest precision among those
 * whose recall is at least the target (ties: the higher threshold). Undefined when no point reaches the target.
 */
export function chooseThreshold(
  samples: readonly ScoredSample[],
  target: ThresholdTarget,
): ThresholdChoice | undefined {
  const curve = prCurve(samples);
  let best: CurvePoint | undefined;
  const [key, other] =
    "precision" in target ? (["precision", "recall"] as const) : (["recall", "precision"] as const);
  const want = "precision" in target ? target.precision : target.recall;
  for (const p of curve.points) {
    if (p[key] + 1e-12 < want) continue;
    if (!best || p[other] > best[other]) best = p;
  }
  if (!best) return undefined;
  const below = curve.points.find((p) => p.threshold < best.threshold)?.threshold;
  const atLeast = shortestThreshold(best.threshold, below);
  let tp = 0;
  let fp = 0;
  for (const s of samples) {
    if (s.score + POLICY_EPSILON >= atLeast) {
      if (s.gold) tp++;
      else fp++;
    }
  }
  const m = metricsFromCounts({
    tp,
    fp,
    fn: curve.positives - tp,
    tn: curve.negatives - fp,
  });
  return { target, point: best, atLeast, precision: m.precision, recall: m.recall, f1: m.f1 };
}

/**
 * The shortest decimal v with `below + ε < v ≤ t + ε` (ε = 1e-9, the policy's tolerance), so that a policy
 * threshold `atLeast: v` fires for score t and not for the next lower score; t itself when no decimal in [0, 1]
 * fits (scores closer than the tolerance cannot be told apart by a policy).
 */
export function shortestThreshold(t: number, below: number | undefined): number {
  const low = below === undefined ? -Infinity : below + POLICY_EPSILON;
  const high = t + POLICY_EPSILON;
  for (let digits = 1; digits <= 15; digits++) {
    const scale = 10 ** digits;
    const v = Math.floor(high * scale) / scale;
    if (v > low && v <= high) return v >= 0 && v <= 1 ? v : t;
  }
  return t;
}

export interface ThresholdYamlOptions {
  direction: Direction;
  when: CurveScore;
  atLeast: number;
  action: Extract<PolicyAction, "flag" | "block">;
  /** Comment lines written above the YAML (without `#`). */
  comments?: string[];
}

/**
 * The threshold as a policy file fragment (docs/policies.md): `<direction>: thresholds: [{ when, atLeast,
 * action }]`. Paste it into a policy (merge the list with any thresholds already there).
 */
export function thresholdYaml(options: ThresholdYamlOptions): string {
  const doc = {
    [options.direction]: {
      thresholds: [{ when: options.when, atLeast: options.atLeast, action: options.action }],
    },
  };
  const comments = (options.comments ?? []).map((c) => `# ${c}\n`).join("");
  return comments + stringify(doc);
}
