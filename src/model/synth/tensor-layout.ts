/**
 * The tensors a Qwen3 / Qwen3Guard checkpoint holds, with the names and shapes its config.json implies
 * (Hugging Face layout: linear weights are [out_features, in_features], row-major). See
 * docs/checkpoint-layout.md for the sources.
 */
import type { Qwen3Config } from "../hf-config.js";

export interface TensorSpec {
  name: string;
  shape: number[];
  /** How the synthesizer initialises it: a linear/embedding matrix, or a norm weight (≈1). */
  role: "embedding" | "linear" | "norm";
}

/** Names of one decoder layer's tensors. */
export function layerTensorNames(layer: number) {
  const p = `model.layers.${layer}`;
  return {
    inputLayernorm: `${p}.input_layernorm.weight`,
    qProj: `${p}.self_attn.q_proj.weight`,
    kProj: `${p}.self_attn.k_proj.weight`,
    vProj: `${p}.self_attn.v_proj.weight`,
    oProj: `${p}.self_attn.o_proj.weight`,
    qNorm: `${p}.self_attn.q_norm.weight`,
    kNorm: `${p}.self_attn.k_norm.weight`,
    postAttentionLayernorm: `${p}.post_attention_layernorm.weight`,
    gateProj: `${p}.mlp.gate_proj.weight`,
    upProj: `${p}.mlp.up_proj.weight`,
    downProj: `${p}.mlp.down_proj.weight`,
  };
}

export const EMBED_TOKENS = "model.embed_tokens.weight";
export const FINAL_NORM = "model.norm.weight";
export const LM_HEAD = "lm_head.weight";

/** The Stream heads' tensors (top level, no prefix), response path then query path. */
export const STREAM_HEAD_TENSORS = {
  response: {
    pre: "risk_level_category_pre.weight",
    norm: "risk_level_category_layernorm.weight",
    risk: "risk_level_head.weight",
    category: "category_head.weight",
  },
  query: {
    pre: "query_risk_level_category_pre.weight",
    norm: "query_risk_level_category_layernorm.weight",
    risk: "query_risk_level_head.weight",
    category: "query_category_head.weight",
  },
} as const;

/**
 * Every tensor the checkpoint must hold, in the order they are written. `lm_head.weight` only when the
 * embeddings are untied; the eight head tensors only for Qwen3ForGuardModel.
 */
export function checkpointTensors(config: Qwen3Config): TensorSpec[] {
  const h = config.hiddenSize;
  const qDim = config.numAttentionHeads * config.headDim;
  const kvDim = config.numKeyValueHeads * config.headDim;
  const ffn = config.intermediateSize;
  const specs: TensorSpec[] = [{ name: EMBED_TOKENS, shape: [config.vocabSize, h], role: "embedding" }];
  for (let l = 0; l < config.numHiddenLayers; l++) {
    const n = layerTensorNames(l);
    specs.push(
      { name: n.inputLayernorm, shape: [h], role: "norm" },
      { name: n.qProj, shape: [qDim, h], role: "linear" },
      { name: n.kProj, shape: [kvDim, h], role: "linear" },
      { name: n.vProj, shape: [kvDim, h], role: "linear" },
      { name: n.qNorm, shape: [config.headDim], role: "norm" },
      { name: n.kNorm, shape: [config.headDim], role: "norm" },
      { name: n.oProj, shape: [h, qDim], role: "linear" },
      { name: n.postAttentionLayernorm, shape: [h], role: "norm" },
      { name: n.gateProj, shape: [ffn, h], role: "linear" },
      { name: n.upProj, shape: [ffn, h], role: "linear" },
      { name: n.downProj, shape: [h, ffn], role: "linear" },
    );
  }
  specs.push({ name: FINAL_NORM, shape: [h], role: "norm" });
  if (!config.tieWordEmbeddings) specs.push({ name: LM_HEAD, shape: [config.vocabSize, h], role: "linear" });
  const g = config.guard;
  if (g) {
    const r = STREAM_HEAD_TENSORS.response;
    const q = STREAM_HEAD_TENSORS.query;
    specs.push(
      { name: r.pre, shape: [g.innerSize, h], role: "linear" },
      { name: r.norm, shape: [g.innerSize], role: "norm" },
      { name: r.risk, shape: [g.numRiskLevel, g.innerSize], role: "linear" },
      { name: r.category, shape: [g.numCategory, g.innerSize], role: "linear" },
      { name: q.pre, shape: [g.innerSize, h], role: "linear" },
      { name: q.norm, shape: [g.innerSize], role: "norm" },
      { name: q.risk, shape: [g.numQueryRiskLevel, g.innerSize], role: "linear" },
      { name: q.category, shape: [g.numQueryCategory, g.innerSize], role: "linear" },
    );
  }
  return specs;
}
