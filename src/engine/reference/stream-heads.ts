/**
 * Reference Qwen3Guard-Stream heads. Per position, on the backbone's post-final-norm hidden state h:
 *   response path: x = RMSNorm_inner(W_pre · h) (eps = rms_norm_eps); risk = W_risk · x; category = W_cat · x
 *   query path:    the same with the `query_*` weights.
 * No biases. Label names come from the config's maps.
 */
import { loadHfConfig, type GuardHeadConfig, type Qwen3Config } from "../../model/hf-config.js";
import { STREAM_HEAD_TENSORS } from "../../model/synth/tensor-layout.js";
import { argmax, matVec, rmsNorm, softmax } from "./ops.js";
import { FolderWeights, MapWeights, ReferenceWeightsError, type WeightSource } from "./weights.js";

export interface HeadOutput {
  logits: Float32Array;
  probs: Float32Array;
  /** Label names by class index. */
  labels: readonly string[];
  /** The most probable class. */
  index: number;
  label: string;
  prob: number;
}

export interface PathOutput {
  risk: HeadOutput;
  category: HeadOutput;
}

export interface StreamHeadsOutput {
  response: PathOutput;
  query: PathOutput;
}

interface PathWeights {
  pre: Float32Array;
  norm: Float32Array;
  risk: Float32Array;
  category: Float32Array;
  riskCount: number;
  categoryCount: number;
  riskLabels: readonly string[];
  categoryLabels: readonly string[];
}

function headOutput(logits: Float32Array, labels: readonly string[]): HeadOutput {
  const probs = softmax(logits);
  const index = argmax(logits);
  return { logits, probs, labels, index, label: labels[index]!, prob: probs[index]! };
}

export class ReferenceStreamHeads {
  readonly guard: GuardHeadConfig;
  private readonly response: PathWeights;
  private readonly query: PathWeights;

  constructor(
    readonly config: Qwen3Config,
    weights: WeightSource,
  ) {
    const g = config.guard;
    if (!g)
      throw new ReferenceWeightsError(
        `config is ${config.architecture}, not Qwen3ForGuardModel: no Stream heads`,
      );
    this.guard = g;
    const h = config.hiddenSize;
    const read = (
      names: (typeof STREAM_HEAD_TENSORS)["response" | "query"],
      nRisk: number,
      nCat: number,
    ) => ({
      pre: weights.read(names.pre, [g.innerSize, h]),
      norm: weights.read(names.norm, [g.innerSize]),
      risk: weights.read(names.risk, [nRisk, g.innerSize]),
      category: weights.read(names.category, [nCat, g.innerSize]),
      riskCount: nRisk,
      categoryCount: nCat,
    });
    this.response = {
      ...read(STREAM_HEAD_TENSORS.response, g.numRiskLevel, g.numCategory),
      riskLabels: g.responseRiskLevels,
      categoryLabels: g.responseCategories,
    };
    this.query = {
      ...read(STREAM_HEAD_TENSORS.query, g.numQueryRiskLevel, g.numQueryCategory),
      riskLabels: g.queryRiskLevels,
      categoryLabels: g.queryCategories,
    };
  }

  static load(folder: string): ReferenceStreamHeads {
    const config = loadHfConfig(folder);
    const weights = new FolderWeights(folder);
    try {
      return new ReferenceStreamHeads(config, weights);
    } finally {
      weights.close();
    }
  }

  static fromTensors(config: Qwen3Config, tensors: ReadonlyMap<string, Float32Array>): ReferenceStreamHeads {
    return new ReferenceStreamHeads(config, new MapWeights(tensors));
  }

  /** Both paths' logits, probabilities and labels for one post-norm hidden state. */
  apply(hidden: Float32Array): StreamHeadsOutput {
    if (hidden.length !== this.config.hiddenSize) {
      throw new RangeError(`hidden state has ${hidden.length} values, expected ${this.config.hiddenSize}`);
    }
    return { response: this.applyPath(this.response, hidden), query: this.applyPath(this.query, hidden) };
  }

  private applyPath(p: PathWeights, hidden: Float32Array): PathOutput {
    const inner = this.guard.innerSize;
    const x = rmsNorm(matVec(p.pre, inner, this.config.hiddenSize, hidden), p.norm, this.config.rmsNormEps);
    return {
      risk: headOutput(matVec(p.risk, p.riskCount, inner, x), p.riskLabels),
      category: headOutput(matVec(p.category, p.categoryCount, inner, x), p.categoryLabels),
    };
  }
}
