/**
 * A plain, float32 reference implementation of the Qwen3 decoder (the backbone of Qwen3Guard-Gen and
 * -Stream), read straight from a Hugging Face model folder. It is the oracle the real engines are tested
 * against: clarity over speed, no KV cache, every position recomputed.
 *
 * Per layer: h += o_proj(attention(RoPE(k_norm(k)), RoPE(q_norm(q)), v)) on input_layernorm(h);
 *            h += down(silu(gate(x)) * up(x)) on x = post_attention_layernorm(h).
 * Then the final RMSNorm; logits = lm_head · hidden (lm_head = embed_tokens when tied).
 */
import { loadHfConfig, type Qwen3Config } from "../../model/hf-config.js";
import { EMBED_TOKENS, FINAL_NORM, LM_HEAD, layerTensorNames } from "../../model/synth/tensor-layout.js";
import { applyRope, matVec, rmsNorm, ropeInverseFrequencies, silu } from "./ops.js";
import { FolderWeights, MapWeights, ReferenceWeightsError, type WeightSource } from "./weights.js";

interface LayerWeights {
  inputLayernorm: Float32Array;
  q: Float32Array;
  k: Float32Array;
  v: Float32Array;
  o: Float32Array;
  qNorm: Float32Array;
  kNorm: Float32Array;
  postAttentionLayernorm: Float32Array;
  gate: Float32Array;
  up: Float32Array;
  down: Float32Array;
}

export interface ForwardOptions {
  /** Position of the first id (default 0): ids get positions start … start + n − 1. */
  startPosition?: number;
}

export interface ReferenceForward {
  /** Post-final-norm hidden state per position. */
  hidden: Float32Array[];
  /** LM-head logits at a position (computed on first request, then cached). */
  logits(position: number): Float32Array;
}

export class ReferenceQwen3 {
  readonly config: Qwen3Config;
  private readonly embed: Float32Array;
  private readonly lmHead: Float32Array;
  private readonly finalNorm: Float32Array;
  private readonly layers: LayerWeights[] = [];
  private readonly invFreq: Float64Array;

  /** Build from any weight source; the source may be closed afterwards. */
  constructor(config: Qwen3Config, weights: WeightSource) {
    const rs = config.raw.rope_scaling;
    if (rs !== undefined && rs !== null) {
      throw new ReferenceWeightsError(
        "rope_scaling is set in config.json; the reference implements plain RoPE only",
      );
    }
    this.config = config;
    const h = config.hiddenSize;
    const qDim = config.numAttentionHeads * config.headDim;
    const kvDim = config.numKeyValueHeads * config.headDim;
    const ffn = config.intermediateSize;
    this.embed = weights.read(EMBED_TOKENS, [config.vocabSize, h]);
    if (config.tieWordEmbeddings) {
      this.lmHead = this.embed;
    } else {
      if (!weights.has(LM_HEAD)) {
        throw new ReferenceWeightsError(`tie_word_embeddings is false but the checkpoint has no ${LM_HEAD}`);
      }
      this.lmHead = weights.read(LM_HEAD, [config.vocabSize, h]);
    }
    this.finalNorm = weights.read(FINAL_NORM, [h]);
    for (let l = 0; l < config.numHiddenLayers; l++) {
      const n = layerTensorNames(l);
      this.layers.push({
        inputLayernorm: weights.read(n.inputLayernorm, [h]),
        q: weights.read(n.qProj, [qDim, h]),
        k: weights.read(n.kProj, [kvDim, h]),
        v: weights.read(n.vProj, [kvDim, h]),
        o: weights.read(n.oProj, [h, qDim]),
        qNorm: weights.read(n.qNorm, [config.headDim]),
        kNorm: weights.read(n.kNorm, [config.headDim]),
        postAttentionLayernorm: weights.read(n.postAttentionLayernorm, [h]),
        gate: weights.read(n.gateProj, [ffn, h]),
        up: weights.read(n.upProj, [ffn, h]),
        down: weights.read(n.downProj, [h, ffn]),
      });
    }
    this.invFreq = ropeInverseFrequencies(config.headDim, config.ropeTheta);
  }

  /** Load config.json and the safetensors weights of a model folder. */
  static load(folder: string): ReferenceQwen3 {
    const config = loadHfConfig(folder);
    const weights = new FolderWeights(folder);
    try {
      return new ReferenceQwen3(config, weights);
    } finally {
      weights.close();
    }
  }

  /** Build from in-memory tensors (flat, row-major, HF names). */
  static fromTensors(config: Qwen3Config, tensors: ReadonlyMap<string, Float32Array>): ReferenceQwen3 {
    return new ReferenceQwen3(config, new MapWeights(tensors));
  }

  /** The embedding row of a token id (a view, do not modify). */
  embedding(id: number): Float32Array {
    const h = this.config.hiddenSize;
    if (!Number.isInteger(id) || id < 0 || id >= this.config.vocabSize) {
      throw new RangeError(`token id ${id} is outside the vocabulary (0 … ${this.config.vocabSize - 1})`);
    }
    return this.embed.subarray(id * h, (id + 1) * h);
  }

  /** LM-head logits for one post-norm hidden state. */
  logitsFor(hidden: Float32Array): Float32Array {
    return matVec(this.lmHead, this.config.vocabSize, this.config.hiddenSize, hidden);
  }

  /** Run the decoder over `ids` (causal: position t sees positions ≤ t of this call only). */
  forward(ids: readonly number[], options: ForwardOptions = {}): ReferenceForward {
    const c = this.config;
    const start = options.startPosition ?? 0;
    const residual = ids.map((id) => Float32Array.from(this.embedding(id)));
    for (const layer of this.layers) {
      this.attentionBlock(layer, residual, start);
      this.mlpBlock(layer, residual);
    }
    const hidden = residual.map((x) => rmsNorm(x, this.finalNorm, c.rmsNormEps));
    const cache = new Map<number, Float32Array>();
    return {
      hidden,
      logits: (position: number) => {
        const h = hidden[position];
        if (!h) throw new RangeError(`position ${position} is outside 0 … ${hidden.length - 1}`);
        let l = cache.get(position);
        if (!l) cache.set(position, (l = this.logitsFor(h)));
        return l;
      },
    };
  }

  /** Logits for the token after `ids`. */
  nextTokenLogits(ids: readonly number[], options: ForwardOptions = {}): Float32Array {
    if (ids.length === 0) throw new RangeError("nextTokenLogits needs at least one token");
    return this.forward(ids, options).logits(ids.length - 1);
  }

  private attentionBlock(layer: LayerWeights, residual: Float32Array[], start: number): void {
    const c = this.config;
    const h = c.hiddenSize;
    const hd = c.headDim;
    const nHeads = c.numAttentionHeads;
    const nKv = c.numKeyValueHeads;
    const group = nHeads / nKv;
    const eps = c.rmsNormEps;
    const n = residual.length;
    const qs: Float32Array[] = [];
    const ks: Float32Array[] = [];
    const vs: Float32Array[] = [];
    for (let t = 0; t < n; t++) {
      const x = rmsNorm(residual[t]!, layer.inputLayernorm, eps);
      const q = matVec(layer.q, nHeads * hd, h, x);
      const k = matVec(layer.k, nKv * hd, h, x);
      for (let head = 0; head < nHeads; head++) {
        rmsNorm(q, layer.qNorm, eps, q, head * hd, head * hd);
        applyRope(q, head * hd, hd, start + t, this.invFreq);
      }
      for (let head = 0; head < nKv; head++) {
        rmsNorm(k, layer.kNorm, eps, k, head * hd, head * hd);
        applyRope(k, head * hd, hd, start + t, this.invFreq);
      }
      qs.push(q);
      ks.push(k);
      vs.push(matVec(layer.v, nKv * hd, h, x));
    }
    const scale = 1 / Math.sqrt(hd);
    const scores = new Float64Array(n);
    for (let t = 0; t < n; t++) {
      const attended = new Float32Array(nHeads * hd);
      for (let head = 0; head < nHeads; head++) {
        const qOff = head * hd;
        const kvOff = Math.floor(head / group) * hd;
        const q = qs[t]!;
        let max = -Infinity;
        for (let j = 0; j <= t; j++) {
          const k = ks[j]!;
          let dot = 0;
          for (let d = 0; d < hd; d++) dot += q[qOff + d]! * k[kvOff + d]!;
          scores[j] = dot * scale;
          if (scores[j]! > max) max = scores[j]!;
        }
        let sum = 0;
        for (let j = 0; j <= t; j++) sum += scores[j] = Math.exp(scores[j]! - max);
        for (let j = 0; j <= t; j++) {
          const p = scores[j]! / sum;
          const v = vs[j]!;
          for (let d = 0; d < hd; d++) attended[qOff + d] = attended[qOff + d]! + p * v[kvOff + d]!;
        }
      }
      const out = matVec(layer.o, h, nHeads * hd, attended);
      const r = residual[t]!;
      for (let i = 0; i < h; i++) r[i] = r[i]! + out[i]!;
    }
  }

  private mlpBlock(layer: LayerWeights, residual: Float32Array[]): void {
    const c = this.config;
    const h = c.hiddenSize;
    const ffn = c.intermediateSize;
    for (const r of residual) {
      const x = rmsNorm(r, layer.postAttentionLayernorm, c.rmsNormEps);
      const gate = matVec(layer.gate, ffn, h, x);
      const up = matVec(layer.up, ffn, h, x);
      for (let i = 0; i < ffn; i++) gate[i] = silu(gate[i]!) * up[i]!;
      const out = matVec(layer.down, h, ffn, gate);
      for (let i = 0; i < h; i++) r[i] = r[i]! + out[i]!;
    }
  }
}
