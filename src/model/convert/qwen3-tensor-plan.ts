/**
 * Which Hugging Face tensors of a Qwen3 checkpoint go into a llama.cpp `qwen3` GGUF, under which names, with
 * which shapes, and stored as which ggml type.
 *
 * Names: `model.embed_tokens` → `token_embd`, `model.norm` → `output_norm`, `lm_head` → `output` (only when the
 * embeddings are untied: llama.cpp reuses token_embd otherwise), and per layer N the eleven `blk.N.*` tensors.
 * HF stores a linear weight as [out, in] row-major; GGUF lists dimensions innermost first, so the same bytes
 * are written with ne = [in, out]. Qwen3 uses NEOX rotary embeddings: no Q/K permutation.
 *
 * Types, as llama.cpp's convert_hf_to_gguf.py chooses them: 1-D tensors (all norm weights) stay F32 in every
 * output type; for F16 all 2-D weights are F16; for Q8_0 a 2-D weight is Q8_0 when ne[0] is a multiple of 32
 * (Q8_0 blocks run along ne[0]) and falls back to F16 otherwise (the reference converter does the same on a
 * QuantError). The token embedding is quantized like any other matrix.
 */
import type { Qwen3Config } from "../hf-config.js";
import { GgmlType } from "../gguf/ggml-types.js";
import { Q8_0_BLOCK_SIZE } from "../gguf/quantize.js";

export type GgufOutputType = "q8_0" | "f16" | "f32";
export const GGUF_OUTPUT_TYPES: readonly GgufOutputType[] = ["q8_0", "f16", "f32"];

export interface PlannedTensor {
  /** Name in the Hugging Face checkpoint. */
  hfName: string;
  /** Name in the GGUF file. */
  ggufName: string;
  /** HF shape (outermost first), as config.json implies it. */
  hfShape: number[];
  /** GGUF dimensions, innermost first (the HF shape reversed). */
  ne: number[];
  type: GgmlType;
}

const LAYER_TENSORS: readonly [hf: string, gguf: string][] = [
  ["input_layernorm", "attn_norm"],
  ["self_attn.q_proj", "attn_q"],
  ["self_attn.k_proj", "attn_k"],
  ["self_attn.v_proj", "attn_v"],
  ["self_attn.q_norm", "attn_q_norm"],
  ["self_attn.k_norm", "attn_k_norm"],
  ["self_attn.o_proj", "attn_output"],
  ["post_attention_layernorm", "ffn_norm"],
  ["mlp.gate_proj", "ffn_gate"],
  ["mlp.up_proj", "ffn_up"],
  ["mlp.down_proj", "ffn_down"],
];

/** The ggml type a tensor of this GGUF shape gets in a file of the given output type. */
export function chooseGgmlType(ne: readonly number[], output: GgufOutputType): GgmlType {
  if (output === "f32" || ne.length <= 1) return GgmlType.F32;
  if (output === "f16") return GgmlType.F16;
  return ne[0]! % Q8_0_BLOCK_SIZE === 0 ? GgmlType.Q8_0 : GgmlType.F16;
}

/** Every tensor to write, in file order (llama.cpp's order: embeddings, layers, final norm, output). */
export function planQwen3Tensors(config: Qwen3Config, output: GgufOutputType): PlannedTensor[] {
  const h = config.hiddenSize;
  const qDim = config.numAttentionHeads * config.headDim;
  const kvDim = config.numKeyValueHeads * config.headDim;
  const ffn = config.intermediateSize;
  const shapes: Record<string, number[]> = {
    input_layernorm: [h],
    "self_attn.q_proj": [qDim, h],
    "self_attn.k_proj": [kvDim, h],
    "self_attn.v_proj": [kvDim, h],
    "self_attn.q_norm": [config.headDim],
    "self_attn.k_norm": [config.headDim],
    "self_attn.o_proj": [h, qDim],
    post_attention_layernorm: [h],
    "mlp.gate_proj": [ffn, h],
    "mlp.up_proj": [ffn, h],
    "mlp.down_proj": [h, ffn],
  };
  const plan: PlannedTensor[] = [];
  const add = (hfName: string, ggufName: string, hfShape: number[]): void => {
    const ne = [...hfShape].reverse();
    plan.push({ hfName, ggufName, hfShape, ne, type: chooseGgmlType(ne, output) });
  };
  add("model.embed_tokens.weight", "token_embd.weight", [config.vocabSize, h]);
  for (let l = 0; l < config.numHiddenLayers; l++) {
    for (const [hf, gg] of LAYER_TENSORS)
      add(`model.layers.${l}.${hf}.weight`, `blk.${l}.${gg}.weight`, shapes[hf]!);
  }
  add("model.norm.weight", "output_norm.weight", [h]);
  if (!config.tieWordEmbeddings) add("lm_head.weight", "output.weight", [config.vocabSize, h]);
  return plan;
}
