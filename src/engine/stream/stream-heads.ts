/**
 * The Qwen3Guard-Stream heads in plain JS, applied to one post-final-norm hidden state h:
 *   x = RMSNorm_inner(W_pre · h) (eps = rms_norm_eps, no bias); risk = W_risk · x; category = W_cat · x; softmax.
 * The response path reads the answer positions, the query path the last prompt position. At 0.6B one path is
 * 512 × 1024 + 11 × 512 multiply-adds per token: a tight loop over Float32Arrays, accumulated in doubles.
 */
import type { RiskTier } from "../../core/labels.js";
import type { TierProbabilities } from "../../core/verdict.js";
import type { StreamHeadPathWeights, StreamHeadWeights } from "../../model/stream-assets.js";

export type HeadPath = "response" | "query";

/** One path's output at one position. */
export interface HeadScores {
  /** Softmax over the risk classes, by class index. */
  riskProbs: Float32Array;
  /** Softmax over the categories, by class index. */
  categoryProbs: Float32Array;
  /** Most probable risk class (index) and its tier. */
  riskIndex: number;
  tier: RiskTier;
  /** Most probable category (index) and its label name from config.json. */
  categoryIndex: number;
  category: string;
  /** P(tier) for the three tiers. */
  probabilities: TierProbabilities;
}

function softmaxInto(logits: Float64Array, count: number): Float32Array {
  let max = -Infinity;
  for (let i = 0; i < count; i++) if (logits[i]! > max) max = logits[i]!;
  let sum = 0;
  const out = new Float32Array(count);
  const tmp = new Float64Array(count);
  for (let i = 0; i < count; i++) {
    tmp[i] = Math.exp(logits[i]! - max);
    sum += tmp[i]!;
  }
  for (let i = 0; i < count; i++) out[i] = tmp[i]! / sum;
  return out;
}

function argmax(values: Float32Array): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i]! > values[best]!) best = i;
  return best;
}

export class StreamHeads {
  private readonly inner: Float64Array;
  private readonly logits: Float64Array;

  constructor(readonly weights: StreamHeadWeights) {
    this.inner = new Float64Array(weights.innerSize);
    const most = Math.max(
      weights.response.riskLabels.length,
      weights.response.categoryLabels.length,
      weights.query.riskLabels.length,
      weights.query.categoryLabels.length,
    );
    this.logits = new Float64Array(most);
  }

  get hiddenSize(): number {
    return this.weights.hiddenSize;
  }

  /** Apply one path to one hidden state (length hiddenSize). */
  apply(hidden: Float32Array, path: HeadPath): HeadScores {
    const w = this.weights;
    if (hidden.length !== w.hiddenSize) {
      throw new RangeError(`hidden state has ${hidden.length} values, the heads expect ${w.hiddenSize}`);
    }
    const p: StreamHeadPathWeights = w[path];
    const inner = w.innerSize;
    const hiddenSize = w.hiddenSize;
    const x = this.inner;
    // x = W_pre · h, then RMSNorm with the path's weight
    let sumSq = 0;
    for (let r = 0; r < inner; r++) {
      const row = r * hiddenSize;
      let acc = 0;
      for (let c = 0; c < hiddenSize; c++) acc += p.pre[row + c]! * hidden[c]!;
      x[r] = acc;
      sumSq += acc * acc;
    }
    const scale = 1 / Math.sqrt(sumSq / inner + w.rmsNormEps);
    for (let r = 0; r < inner; r++) x[r] = x[r]! * scale * p.norm[r]!;
    const linear = (m: Float32Array, rows: number): Float32Array => {
      const logits = this.logits;
      for (let r = 0; r < rows; r++) {
        const row = r * inner;
        let acc = 0;
        for (let c = 0; c < inner; c++) acc += m[row + c]! * x[c]!;
        logits[r] = acc;
      }
      return softmaxInto(logits, rows);
    };
    const riskProbs = linear(p.risk, p.riskLabels.length);
    const categoryProbs = linear(p.category, p.categoryLabels.length);
    const riskIndex = argmax(riskProbs);
    const categoryIndex = argmax(categoryProbs);
    // the risk map names each tier exactly once (checked when the weights are read)
    const of = (tier: RiskTier) => riskProbs[p.riskTiers.indexOf(tier)]!;
    const probabilities: TierProbabilities = {
      Safe: of("Safe"),
      Unsafe: of("Unsafe"),
      Controversial: of("Controversial"),
    };
    return {
      riskProbs,
      categoryProbs,
      riskIndex,
      tier: p.riskTiers[riskIndex]!,
      categoryIndex,
      category: p.categoryLabels[categoryIndex]!,
      probabilities,
    };
  }
}
