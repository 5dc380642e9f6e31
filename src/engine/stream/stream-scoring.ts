/**
 * Stream scoring in one place: the heads applied to a hidden state, with the class names of the checkpoint's
 * label maps (config.json: any category names, in any order), and — for an answer — the scores fed to the
 * decision rule (`StreamTracker`), which carries the triggering token's category and probabilities unchanged.
 *
 *   const scorer = new StreamScorer(assets.heads);
 *   const prompt = scorer.prompt(hiddenAtLastPromptPosition); // query heads
 *   const answer = scorer.answer({ rule: "official", mode: "strict" });
 *   const { score, fired } = answer.push(hiddenOfNextAnswerToken); // response heads + the pair rule
 *   answer.final(); // the whole-answer verdict so far
 */
import type { RiskTier } from "../../core/labels.js";
import {
  StreamTracker,
  type StreamDecisionOptions,
  type StreamRule,
  type StreamTrigger,
  type StreamVerdict,
} from "../../core/stream-decision.js";
import type { Strictness } from "../../core/labels.js";
import type { TierProbabilities } from "../../core/verdict.js";
import type { StreamHeadWeights } from "../../model/stream-assets.js";
import { StreamHeads, type HeadPath } from "./stream-heads.js";

/** What the heads say at one position, besides the tier: every field is known. */
export interface ScoreDetail {
  /** The most probable category, named by the checkpoint's category map. */
  category: string;
  /** P(tier) for the three tiers. */
  probabilities: TierProbabilities;
  /** P(category) by name, over the checkpoint's categories of that path. */
  categoryProbabilities: Record<string, number>;
}

/** The heads at one position. */
export interface HeadScore extends ScoreDetail {
  /** The most probable tier. */
  tier: RiskTier;
}

/** A trigger of the pair rule, with the triggering token's category and probabilities. */
export type ScoredTrigger = StreamTrigger<ScoreDetail>;
/** The whole-answer verdict: Safe, or the deciding trigger with its token's category and probabilities. */
export type ScoredVerdict = StreamVerdict<ScoreDetail>;

/**
 * The class names of both head paths of a Stream checkpoint, from its config.json (`StreamGuard.info.labels`): the
 * response heads' tiers and categories, the query heads' tiers and categories. Stream verdicts name their category
 * with these.
 *
 * @example
 * ```ts
 * import { StreamGuard, type StreamLabels } from "qwen3guard";
 *
 * const guard = await StreamGuard.load({ model: "/models/Qwen3Guard-Stream-0.6B" });
 * const labels: StreamLabels = guard.info.labels;
 * console.log(labels.responseRisk, labels.queryCategories.at(-1)); // ["Safe", "Unsafe", "Controversial"] Jailbreak
 * await guard.close();
 * ```
 */
export interface StreamLabels {
  /** Tiers of the response heads, by class index. */
  responseRisk: readonly string[];
  /** Categories of the response heads, by class index. */
  responseCategories: readonly string[];
  /** Tiers of the query (prompt) heads, by class index. */
  queryRisk: readonly string[];
  /** Categories of the query (prompt) heads, by class index. */
  queryCategories: readonly string[];
}

/** The heads of one Stream checkpoint, scoring hidden states (one per guard; not reentrant across awaits). */
export class StreamScorer {
  readonly #heads: StreamHeads;

  constructor(weights: StreamHeadWeights) {
    this.#heads = new StreamHeads(weights);
  }

  /** Width of the hidden states the heads take. */
  get hiddenSize(): number {
    return this.#heads.hiddenSize;
  }

  /** The class names of both paths, as config.json gives them. */
  get labels(): StreamLabels {
    const w = this.#heads.weights;
    return {
      responseRisk: w.response.riskLabels,
      responseCategories: w.response.categoryLabels,
      queryRisk: w.query.riskLabels,
      queryCategories: w.query.categoryLabels,
    };
  }

  /** Apply one path to one hidden state. */
  score(hidden: Float32Array, path: HeadPath): HeadScore {
    const s = this.#heads.apply(hidden, path);
    const names = this.#heads.weights[path].categoryLabels;
    const categoryProbabilities: Record<string, number> = {};
    names.forEach((name, i) => (categoryProbabilities[name] = s.categoryProbs[i]!));
    return {
      tier: s.tier,
      category: s.category,
      probabilities: s.probabilities,
      categoryProbabilities,
    };
  }

  /** The query heads at the last prompt position. */
  prompt(hidden: Float32Array): HeadScore {
    return this.score(hidden, "query");
  }

  /** Scoring of one answer, token by token, under a decision rule and mode. */
  answer(options: StreamDecisionOptions = {}): AnswerScoring {
    return new AnswerScoring(this, options);
  }
}

/** One answer's scores fed to the pair rule: the response heads at each token, then the tracker. */
export class AnswerScoring {
  readonly #scorer: StreamScorer;
  readonly #tracker: StreamTracker<ScoreDetail>;

  constructor(scorer: StreamScorer, options: StreamDecisionOptions = {}) {
    this.#scorer = scorer;
    this.#tracker = new StreamTracker<ScoreDetail>(options);
  }

  get rule(): StreamRule {
    return this.#tracker.rule;
  }

  get mode(): Strictness {
    return this.#tracker.mode;
  }

  /** Answer tokens scored so far. */
  get length(): number {
    return this.#tracker.length;
  }

  /** The stop trigger, once the rule fired. */
  get fired(): ScoredTrigger | undefined {
    return this.#tracker.fired;
  }

  /** Score the next answer token; `fired` is set on the token where the rule stops the stream. */
  push(hidden: Float32Array): { index: number; score: HeadScore; fired?: ScoredTrigger } {
    const score = this.#scorer.score(hidden, "response");
    const { tier, ...detail } = score;
    const { index, fired } = this.#tracker.push(tier, detail);
    return fired ? { index, score, fired } : { index, score };
  }

  /** The whole-answer verdict over the tokens scored so far. */
  final(): ScoredVerdict {
    return this.#tracker.final();
  }
}
