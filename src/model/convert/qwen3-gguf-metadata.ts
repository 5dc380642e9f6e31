/**
 * The GGUF metadata llama.cpp's `qwen3` architecture reads, built from config.json and the tokenizer files.
 * `qwen3.pooling_type` is deliberately absent (no pooling: per-token hidden states stay available).
 */
import fs from "node:fs";
import path from "node:path";
import { MANIFEST_NAME } from "../hub/hub-cache.js";
import type { Qwen3Config } from "../hf-config.js";
import { LlamaFileType } from "../gguf/ggml-types.js";
import { gguf, type GgufMetadata } from "../gguf/gguf-value.js";
import type { HfTokenizerMetadata } from "./hf-tokenizer-metadata.js";
import type { GgufOutputType } from "./qwen3-tensor-plan.js";

/** ggml's quantization format version (GGML_QNT_VERSION), written by llama.cpp's converter. */
const GGML_QUANT_VERSION = 2;

const FILE_TYPE: Record<GgufOutputType, number> = {
  f32: LlamaFileType.ALL_F32,
  f16: LlamaFileType.MOSTLY_F16,
  q8_0: LlamaFileType.MOSTLY_Q8_0,
};

/**
 * A readable model name: the repository name for a Hugging Face cache snapshot
 * (`…/models--Qwen--Qwen3Guard-Gen-0.6B/snapshots/<sha>` → `Qwen3Guard-Gen-0.6B`), else the folder name.
 */
export function modelNameFromDir(modelDir: string): string {
  const parts = path.resolve(modelDir).split(path.sep);
  const snap = parts.lastIndexOf("snapshots");
  const repo = snap > 0 ? parts[snap - 1] : undefined;
  if (repo?.startsWith("models--")) return repo.split("--").slice(2).join("--") || repo;
  return parts[parts.length - 1] || "qwen3";
}

/**
 * The hub repository (`owner/name`) a folder was pulled from: the repo of our own pull manifest
 * (`qwen3guard pull`), or the name in a Hugging Face cache path (`…/models--owner--name/snapshots/<sha>`);
 * undefined for any other folder.
 */
export function hubRepoFromDir(modelDir: string): string | undefined {
  try {
    const manifest = JSON.parse(fs.readFileSync(path.join(modelDir, MANIFEST_NAME), "utf8")) as {
      repo?: unknown;
    };
    if (typeof manifest.repo === "string" && manifest.repo.includes("/")) return manifest.repo;
  } catch {
    /* not pulled by qwen3guard */
  }
  const parts = path.resolve(modelDir).split(path.sep);
  const snap = parts.lastIndexOf("snapshots");
  const repo = snap > 0 ? parts[snap - 1] : undefined;
  if (!repo?.startsWith("models--")) return undefined;
  const [owner, ...name] = repo.slice("models--".length).split("--");
  return owner && name.length > 0 ? `${owner}/${name.join("--")}` : undefined;
}

function ropeScaling(config: Qwen3Config, md: GgufMetadata): void {
  const rs = config.raw.rope_scaling as Record<string, unknown> | null | undefined;
  if (!rs || typeof rs !== "object") return;
  const kind = rs.rope_type ?? rs.type;
  const factor = rs.factor;
  if ((kind === "yarn" || kind === "linear") && typeof factor === "number") {
    md.set("qwen3.rope.scaling.type", gguf.str(kind));
    md.set("qwen3.rope.scaling.factor", gguf.f32(factor));
    if (typeof rs.original_max_position_embeddings === "number") {
      md.set("qwen3.rope.scaling.original_context_length", gguf.u32(rs.original_max_position_embeddings));
    }
  }
}

export function buildQwen3Metadata(
  config: Qwen3Config,
  tokenizer: HfTokenizerMetadata,
  output: GgufOutputType,
  name: string,
): GgufMetadata {
  const md: GgufMetadata = new Map();
  md.set("general.architecture", gguf.str("qwen3"));
  md.set("general.name", gguf.str(name));
  md.set("general.file_type", gguf.u32(FILE_TYPE[output]));
  md.set("general.quantization_version", gguf.u32(GGML_QUANT_VERSION));
  md.set("qwen3.context_length", gguf.u32(config.maxPositionEmbeddings));
  md.set("qwen3.embedding_length", gguf.u32(config.hiddenSize));
  md.set("qwen3.block_count", gguf.u32(config.numHiddenLayers));
  md.set("qwen3.feed_forward_length", gguf.u32(config.intermediateSize));
  md.set("qwen3.attention.head_count", gguf.u32(config.numAttentionHeads));
  md.set("qwen3.attention.head_count_kv", gguf.u32(config.numKeyValueHeads));
  md.set("qwen3.attention.key_length", gguf.u32(config.headDim));
  md.set("qwen3.attention.value_length", gguf.u32(config.headDim));
  md.set("qwen3.rope.freq_base", gguf.f32(config.ropeTheta));
  md.set("qwen3.attention.layer_norm_rms_epsilon", gguf.f32(config.rmsNormEps));
  ropeScaling(config, md);

  md.set("tokenizer.ggml.model", gguf.str("gpt2"));
  md.set("tokenizer.ggml.pre", gguf.str("qwen2"));
  md.set("tokenizer.ggml.tokens", gguf.strings(tokenizer.tokens));
  md.set("tokenizer.ggml.token_type", gguf.i32s(tokenizer.tokenTypes));
  md.set("tokenizer.ggml.merges", gguf.strings(tokenizer.merges));
  if (tokenizer.eosTokenId !== undefined)
    md.set("tokenizer.ggml.eos_token_id", gguf.u32(tokenizer.eosTokenId));
  if (tokenizer.bosTokenId !== undefined)
    md.set("tokenizer.ggml.bos_token_id", gguf.u32(tokenizer.bosTokenId));
  if (tokenizer.paddingTokenId !== undefined) {
    md.set("tokenizer.ggml.padding_token_id", gguf.u32(tokenizer.paddingTokenId));
  }
  if (tokenizer.addBosToken !== undefined)
    md.set("tokenizer.ggml.add_bos_token", gguf.bool(tokenizer.addBosToken));
  if (tokenizer.addEosToken !== undefined)
    md.set("tokenizer.ggml.add_eos_token", gguf.bool(tokenizer.addEosToken));
  if (tokenizer.chatTemplate !== undefined)
    md.set("tokenizer.chat_template", gguf.str(tokenizer.chatTemplate));
  return md;
}
