/**
 * config.json contents for synthetic checkpoints: the real Qwen3Guard shapes (0.6B / 4B / 8B, as the official
 * config.json files give them) and a `tiny` shape for tests. Field names follow the official
 * config.json files (docs/checkpoint-layout.md).
 */
import { CAUSAL_LM_ARCHITECTURE, GUARD_ARCHITECTURE } from "../hf-config.js";
import { SYNTHETIC_CONFIG_KEY } from "../synthetic-marker.js";

/**
 * Which model `synthesizeModel` writes: a Qwen3Guard-Gen checkpoint or a Qwen3Guard-Stream one.
 *
 * @example
 * ```ts
 * import type { SynthKind } from "qwen3guard/testing";
 *
 * const kind: SynthKind = "stream";
 * console.log(kind);
 * ```
 */
export type SynthKind = "gen" | "stream";

/**
 * The shape of a synthetic checkpoint: `tiny` (for tests: a few layers, small hidden size, the real vocabulary) or
 * the official 0.6B, 4B and 8B shapes (as their config.json files give them; for benchmarks).
 *
 * @example
 * ```ts
 * import type { SynthShape } from "qwen3guard/testing";
 *
 * const shape: SynthShape = "0.6b"; // what the benchmarks time
 * console.log(shape);
 * ```
 */
export type SynthShape = "tiny" | "0.6b" | "4b" | "8b";

/**
 * Element type of the synthetic weights: `f32` or `bf16` (the official checkpoints' type).
 *
 * @example
 * ```ts
 * import type { SynthDtype } from "qwen3guard/testing";
 *
 * const dtype: SynthDtype = "bf16";
 * console.log(dtype);
 * ```
 */
export type SynthDtype = "f32" | "bf16";

/**
 * Every shape `synthesizeModel` knows, smallest first.
 *
 * @example
 * ```ts
 * import { SYNTH_SHAPES } from "qwen3guard/testing";
 *
 * console.log(SYNTH_SHAPES); // ["tiny", "0.6b", "4b", "8b"]
 * ```
 */
export const SYNTH_SHAPES: readonly SynthShape[] = ["tiny", "0.6b", "4b", "8b"];

/**
 * Every kind `synthesizeModel` writes.
 *
 * @example
 * ```ts
 * import { SYNTH_KINDS } from "qwen3guard/testing";
 *
 * console.log(SYNTH_KINDS); // ["gen", "stream"]
 * ```
 */
export const SYNTH_KINDS: readonly SynthKind[] = ["gen", "stream"];

interface BackboneShape {
  hidden_size: number;
  num_hidden_layers: number;
  num_attention_heads: number;
  num_key_value_heads: number;
  head_dim: number;
  intermediate_size: number;
  tie_word_embeddings: boolean;
  max_position_embeddings: number;
  /** Width of the Stream heads' projection. 512 is the published 0.6B value; the others are our choice. */
  guard_inner_size: number;
}

/** The Qwen3 tokenizer's embedding rows (151643 BPE tokens + specials, padded). */
export const QWEN3_VOCAB_SIZE = 151936;
export const ENDOFTEXT_ID = 151643;
export const IM_END_ID = 151645;

const SHAPES: Record<SynthShape, BackboneShape> = {
  // head_dim 32 ≠ hidden/heads = 16 on purpose: Qwen3's head_dim is independent of hidden_size.
  tiny: {
    hidden_size: 64,
    num_hidden_layers: 2,
    num_attention_heads: 4,
    num_key_value_heads: 2,
    head_dim: 32,
    intermediate_size: 128,
    tie_word_embeddings: true,
    max_position_embeddings: 4096,
    guard_inner_size: 32,
  },
  "0.6b": {
    hidden_size: 1024,
    num_hidden_layers: 28,
    num_attention_heads: 16,
    num_key_value_heads: 8,
    head_dim: 128,
    intermediate_size: 3072,
    tie_word_embeddings: true,
    max_position_embeddings: 32768,
    guard_inner_size: 512,
  },
  "4b": {
    hidden_size: 2560,
    num_hidden_layers: 36,
    num_attention_heads: 32,
    num_key_value_heads: 8,
    head_dim: 128,
    intermediate_size: 9728,
    tie_word_embeddings: true,
    max_position_embeddings: 32768,
    guard_inner_size: 512,
  },
  "8b": {
    hidden_size: 4096,
    num_hidden_layers: 36,
    num_attention_heads: 32,
    num_key_value_heads: 8,
    head_dim: 128,
    intermediate_size: 12288,
    tie_word_embeddings: false,
    max_position_embeddings: 32768,
    guard_inner_size: 512,
  },
};

/** Stream label maps as config.json spells them: class index (as a string key) → name. */
export const STREAM_LABEL_MAPS = {
  response_risk_level_map: ["Safe", "Unsafe", "Controversial"],
  response_category_map: [
    "Violent",
    "Sexual Content or Sexual Acts",
    "Suicide & Self-Harm",
    "Politically Sensitive Topics",
    "PII",
    "Copyright Violation",
    "Non-violent Illegal Acts",
    "Unethical Acts",
  ],
  query_risk_level_map: ["Safe", "Unsafe", "Controversial"],
  query_category_map: [
    "Violent",
    "Sexual Content or Sexual Acts",
    "Suicide & Self-Harm",
    "Politically Sensitive Topics",
    "PII",
    "Copyright Violation",
    "Non-violent Illegal Acts",
    "Unethical Acts",
    "Jailbreak",
  ],
} as const;

/** ["a", "b"] → {"0": "a", "1": "b"}, the form config.json uses. */
export function namesToLabelMap(names: readonly string[]): Record<string, string> {
  return Object.fromEntries(names.map((name, i) => [String(i), name]));
}

export function torchDtypeName(dtype: SynthDtype): string {
  return dtype === "bf16" ? "bfloat16" : "float32";
}

export interface SynthConfigOptions {
  kind: SynthKind;
  shape: SynthShape;
  dtype: SynthDtype;
  /** Override the shape's usual tying (tiny and 0.6B/4B are tied, 8B untied). */
  tieEmbeddings?: boolean;
  /** Recorded in the synthetic marker. */
  seed?: number;
}

/** The config.json object for a synthetic checkpoint (marked synthetic: its verdicts mean nothing). */
export function synthConfigJson(options: SynthConfigOptions): Record<string, unknown> {
  const s = SHAPES[options.shape];
  const tied = options.tieEmbeddings ?? s.tie_word_embeddings;
  const config: Record<string, unknown> = {
    architectures: [options.kind === "gen" ? CAUSAL_LM_ARCHITECTURE : GUARD_ARCHITECTURE],
    attention_bias: false,
    attention_dropout: 0.0,
    bos_token_id: ENDOFTEXT_ID,
    eos_token_id: IM_END_ID,
    head_dim: s.head_dim,
    hidden_act: "silu",
    hidden_size: s.hidden_size,
    initializer_range: 0.02,
    intermediate_size: s.intermediate_size,
    max_position_embeddings: s.max_position_embeddings,
    max_window_layers: s.num_hidden_layers,
    model_type: "qwen3",
    num_attention_heads: s.num_attention_heads,
    num_hidden_layers: s.num_hidden_layers,
    num_key_value_heads: s.num_key_value_heads,
    rms_norm_eps: 1e-6,
    rope_scaling: null,
    rope_theta: 1000000,
    sliding_window: null,
    tie_word_embeddings: tied,
    torch_dtype: torchDtypeName(options.dtype),
    use_cache: true,
    use_sliding_window: false,
    vocab_size: QWEN3_VOCAB_SIZE,
    [SYNTHETIC_CONFIG_KEY]: {
      weights: "random",
      ...(options.seed === undefined ? {} : { seed: options.seed }),
    },
  };
  if (options.kind === "stream") {
    const m = STREAM_LABEL_MAPS;
    Object.assign(config, {
      guard_inner_size: s.guard_inner_size,
      num_risk_level: m.response_risk_level_map.length,
      num_category: m.response_category_map.length,
      num_query_risk_level: m.query_risk_level_map.length,
      num_query_category: m.query_category_map.length,
      response_risk_level_map: namesToLabelMap(m.response_risk_level_map),
      response_category_map: namesToLabelMap(m.response_category_map),
      query_risk_level_map: namesToLabelMap(m.query_risk_level_map),
      query_category_map: namesToLabelMap(m.query_category_map),
    });
  }
  return config;
}
