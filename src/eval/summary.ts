/**
 * From predictions to `metrics.json`: every figure of a run, computed from the prediction lines alone (so a
 * resumed run and an uninterrupted one give the same numbers), with the configuration and the model's identity.
 */
import { isCategory, isUnsafeUnder, type Direction, type RiskTier, type Strictness } from "../core/labels.js";
import { decide } from "../core/policy/decide.js";
import type { Policy, PolicyAction } from "../core/policy/types.js";
import type { StreamRule } from "../core/stream-decision.js";
import {
  chooseThreshold,
  CURVE_SCORES,
  prCurve,
  scoreOf,
  thresholdYaml,
  type CurvePoint,
  type CurveScore,
  type ThresholdTarget,
} from "./curves.js";
import type { DataFormat, EvalTask } from "./formats.js";
import { latencySummary, type LatencySummary } from "./latency.js";
import {
  binaryMetrics,
  categoryReport,
  percentile,
  refusalMetrics,
  tierConfusion,
  unsafeMetrics,
  type BinaryMetrics,
  type CategoryReport,
  type TierConfusion,
} from "./metrics.js";
import type { ModelIdentity } from "./model-identity.js";
import type { Prediction } from "./predictions.js";
import type { StreamScoring } from "./runner.js";

export const METRICS_SCHEMA = "qwen3guard-eval-metrics/1";
export const SYNTHETIC_WARNING = "synthetic model — figures mean nothing about accuracy";

/** Everything that decides the predictions (a resumed run must match it), and the options of the figures. */
export interface EvalConfig {
  task: EvalTask;
  guard: "gen" | "stream";
  /** Gen decoding mode. */
  genMode: "fast" | "reference";
  /** Stream: pair rule and scored positions. */
  rule: StreamRule;
  streamScoring: StreamScoring;
  format: DataFormat;
  toxicityThreshold?: number;
  partialRefusal?: "yes" | "no" | "skip";
  /** Figures (not part of the predictions). */
  limit?: number;
  modes: Strictness[];
  policy?: string;
  targets: ThresholdTarget[];
  thresholdAction: "flag" | "block";
}

/** The settings a resumed run must share with the run it resumes. */
export const PREDICTION_SETTINGS = [
  "task",
  "guard",
  "genMode",
  "rule",
  "streamScoring",
  "format",
  "toxicityThreshold",
  "partialRefusal",
] as const satisfies readonly (keyof EvalConfig)[];

export interface DataIdentity {
  spec: string;
  file: string;
  name?: string;
  bytes: number;
  mtimeMs: number;
}

export interface ThresholdSuggestion {
  mode: Strictness;
  score: CurveScore;
  target: ThresholdTarget;
  atLeast: number;
  precision: number;
  recall: number;
  f1: number;
  /** A policy file fragment to paste (docs/policies.md). */
  yaml: string;
}

export interface Miss {
  line: number;
  id?: string;
  gold: RiskTier;
  predicted: RiskTier;
  categories: string[];
  /** P(Unsafe) when the verdict has probabilities. */
  pUnsafe?: number;
  text: string;
}

export interface EvalMetrics {
  schema: typeof METRICS_SCHEMA;
  /** Present when the model is synthetic. */
  warning?: string;
  createdAt: string;
  config: EvalConfig;
  model: ModelIdentity;
  data: DataIdentity;
  rows: {
    /** Valid rows within --limit. */
    inScope: number;
    /** Rows with a verdict. */
    evaluated: number;
    /** Rows with a verdict and a gold label (the classification figures count these). */
    labelled: number;
    /** Rows of the file that could not be read (line and reason in bad-rows.jsonl). */
    bad: number;
    /** Rows on which the guard failed (retried by a rerun). */
    errors: number;
    /** Rows in scope not evaluated yet (an interrupted run). */
    pending: number;
  };
  /** Unsafe-class precision/recall/F1 per mode (`policy`: positive = the policy blocks). */
  classification: Partial<Record<Strictness | "policy", BinaryMetrics>>;
  /** Policy decisions counted (with --policy). */
  policyActions?: Record<PolicyAction, number>;
  tierConfusion: TierConfusion;
  categories?: CategoryReport;
  refusal?: ReturnType<typeof refusalMetrics>;
  latency?: LatencySummary & { rule: StreamRule; scoring: StreamScoring };
  curves?: Partial<
    Record<
      Strictness,
      Record<
        CurveScore,
        { averagePrecision: number; positives: number; negatives: number; points: CurvePoint[] }
      >
    >
  >;
  thresholds?: ThresholdSuggestion[];
  /** Targets no threshold reaches on this data. */
  unreachedTargets?: { mode: Strictness; score: CurveScore; target: ThresholdTarget }[];
  worstMisses: { mode: Strictness; falseNegatives: Miss[]; falsePositives: Miss[] };
  throughput: {
    /** Wall time of the runs that made these predictions (all sessions of a resumed run). */
    seconds: number;
    rowsPerSecond: number;
    tokensPerSecond: number;
    concurrency: number;
    rowMs: { p50: number; p95: number; mean: number };
  };
}

export interface SummaryInput {
  config: EvalConfig;
  model: ModelIdentity;
  data: DataIdentity;
  /** Predictions of the rows in scope (in file order). */
  predictions: Prediction[];
  scope: number;
  badRows: number;
  policy?: Policy;
  seconds: number;
  concurrency: number;
  worstCount?: number;
}

function direction(task: EvalTask): Direction {
  return task === "prompt" ? "prompt" : "response";
}

function round(n: number): number {
  return Number.isFinite(n) ? Math.round(n * 1e6) / 1e6 : n;
}

/** Compute every figure of a run from its predictions. */
export function summarize(input: SummaryInput): EvalMetrics {
  const { config, predictions } = input;
  const judged = predictions.filter((p) => p.verdict !== undefined);
  const labelled = judged.filter((p) => p.gold.label !== undefined);
  const pairs = labelled.map((p) => ({ gold: p.gold.label!, predicted: p.verdict!.tier }));
  const dir = direction(config.task);

  const classification: EvalMetrics["classification"] = {};
  for (const mode of config.modes) classification[mode] = unsafeMetrics(pairs, mode);

  let policyActions: EvalMetrics["policyActions"];
  if (input.policy) {
    const policy = input.policy;
    policyActions = { allow: 0, flag: 0, regenerate: 0, block: 0 };
    const decided = labelled.map((p) => {
      const v = p.verdict!;
      const d = decide(policy, {
        direction: dir,
        tier: v.tier,
        categories: v.categories.filter((c) => isCategory(c, dir)) as never,
        ...(v.probabilities ? { probabilities: v.probabilities } : {}),
      });
      policyActions![d.action]++;
      return { gold: isUnsafeUnder(p.gold.label!, policy.mode), predicted: d.action === "block" };
    });
    classification.policy = binaryMetrics(decided);
  }

  const withCategories = judged.filter((p) => p.gold.categories && p.gold.categories.length > 0);
  const categories =
    withCategories.length > 0
      ? categoryReport(
          withCategories.map((p) => ({
            goldCategories: p.gold.categories!,
            predictedTier: p.verdict!.tier,
            predictedCategories: p.verdict!.categories,
          })),
        )
      : undefined;

  const withRefusal = judged.filter((p) => p.gold.refusal !== undefined);
  const refusal =
    withRefusal.length > 0
      ? refusalMetrics(withRefusal.map((p) => ({ gold: p.gold.refusal!, predicted: p.verdict!.refusal })))
      : undefined;

  let latency: EvalMetrics["latency"];
  const spans = judged.filter((p) => p.stream && p.gold.span && p.gold.label === "Unsafe");
  if (spans.length > 0) {
    latency = {
      ...latencySummary(
        spans.map((p) => ({
          flag: p.stream!.flagIndex === undefined ? undefined : p.stream!.offset + p.stream!.flagIndex,
          span: p.gold.span!,
        })),
      ),
      rule: config.rule,
      scoring: config.streamScoring,
    };
  }

  // Curves and thresholds: verdicts that carry tier probabilities (Gen; Stream prompt verdicts).
  let curves: EvalMetrics["curves"];
  const thresholds: ThresholdSuggestion[] = [];
  const unreachedTargets: NonNullable<EvalMetrics["unreachedTargets"]> = [];
  const scored = labelled.filter((p) => p.verdict!.probabilities && !p.stream);
  if (scored.length > 0 && scored.length === labelled.length) {
    curves = {};
    for (const mode of config.modes) {
      const perScore = {} as NonNullable<EvalMetrics["curves"]>[Strictness] & object;
      for (const score of CURVE_SCORES) {
        const samples = scored.map((p) => ({
          score: scoreOf(p.verdict!.probabilities!, score),
          gold: isUnsafeUnder(p.gold.label!, mode),
        }));
        const curve = prCurve(samples);
        perScore[score] = {
          averagePrecision: round(curve.averagePrecision),
          positives: curve.positives,
          negatives: curve.negatives,
          points: curve.points,
        };
        for (const target of config.targets) {
          const choice = chooseThreshold(samples, target);
          if (!choice) {
            unreachedTargets.push({ mode, score, target });
            continue;
          }
          const what = "precision" in target ? `precision ${target.precision}` : `recall ${target.recall}`;
          thresholds.push({
            mode,
            score,
            target,
            atLeast: choice.atLeast,
            precision: choice.precision,
            recall: choice.recall,
            f1: choice.f1,
            yaml: thresholdYaml({
              direction: dir,
              when: score,
              atLeast: choice.atLeast,
              action: config.thresholdAction,
              comments: [
                `qwen3guard eval: target ${what} (${mode} gold labels, ${input.data.name ?? input.data.spec}, ${scored.length} rows)`,
                `on this data: precision ${choice.precision.toFixed(4)}, recall ${choice.recall.toFixed(4)}, F1 ${choice.f1.toFixed(4)}`,
                ...(input.model.synthetic ? [`${SYNTHETIC_WARNING}`] : []),
              ],
            }),
          });
        }
      }
      curves[mode] = perScore;
    }
  }

  // The most confident mistakes, under the first mode.
  const missMode = config.modes[0] ?? "strict";
  const asMiss = (p: Prediction): Miss => ({
    line: p.line,
    ...(p.id !== undefined ? { id: p.id } : {}),
    gold: p.gold.label!,
    predicted: p.verdict!.tier,
    categories: p.verdict!.categories,
    ...(p.verdict!.probabilities ? { pUnsafe: p.verdict!.probabilities.Unsafe } : {}),
    text: p.text,
  });
  const p1 = (p: Prediction) => p.verdict!.probabilities?.Unsafe ?? (p.verdict!.tier === "Safe" ? 0 : 1);
  const n = input.worstCount ?? 10;
  const falseNegatives = labelled
    .filter((p) => isUnsafeUnder(p.gold.label!, missMode) && !isUnsafeUnder(p.verdict!.tier, missMode))
    .sort((a, b) => p1(a) - p1(b) || a.line - b.line)
    .slice(0, n)
    .map(asMiss);
  const falsePositives = labelled
    .filter((p) => !isUnsafeUnder(p.gold.label!, missMode) && isUnsafeUnder(p.verdict!.tier, missMode))
    .sort((a, b) => p1(b) - p1(a) || a.line - b.line)
    .slice(0, n)
    .map(asMiss);

  const ms = judged.map((p) => p.ms);
  const tokens = judged.reduce((s, p) => s + (p.tokens ?? 0), 0);
  const seconds = Math.max(input.seconds, 1e-9);
  return {
    schema: METRICS_SCHEMA,
    ...(input.model.synthetic ? { warning: SYNTHETIC_WARNING } : {}),
    createdAt: new Date().toISOString(),
    config,
    model: input.model,
    data: input.data,
    rows: {
      inScope: input.scope,
      evaluated: judged.length,
      labelled: labelled.length,
      bad: input.badRows,
      errors: predictions.filter((p) => p.error !== undefined).length,
      pending: input.scope - predictions.length,
    },
    classification,
    ...(policyActions ? { policyActions } : {}),
    tierConfusion: tierConfusion(pairs),
    ...(categories ? { categories } : {}),
    ...(refusal ? { refusal } : {}),
    ...(latency ? { latency } : {}),
    ...(curves ? { curves } : {}),
    ...(config.targets.length > 0 ? { thresholds } : {}),
    ...(unreachedTargets.length > 0 ? { unreachedTargets } : {}),
    worstMisses: { mode: missMode, falseNegatives, falsePositives },
    throughput: {
      seconds: input.seconds,
      rowsPerSecond: judged.length / seconds,
      tokensPerSecond: tokens / seconds,
      concurrency: input.concurrency,
      rowMs: {
        p50: ms.length ? percentile(ms, 50) : 0,
        p95: ms.length ? percentile(ms, 95) : 0,
        mean: ms.length ? ms.reduce((a, b) => a + b, 0) / ms.length : 0,
      },
    },
  };
}

/** The figures of two metrics objects that do not depend on time or on how the run was split into sessions. */
export function stableFigures(m: EvalMetrics): unknown {
  // eslint-disable-next-line @typescript-eslint/no-unused-vars
  const { createdAt, throughput, ...rest } = m;
  return rest;
}
