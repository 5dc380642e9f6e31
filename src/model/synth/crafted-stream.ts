/**
 * A hand-crafted, deterministic Qwen3Guard-Stream model for end-to-end tests: real vocabulary (151936 rows,
 * Qwen3's tokenizer), one decoder layer, weights set so that the verdicts are known in advance.
 *
 * Hidden size 16, each dimension with one job:
 *   0 constant 1 for every token; 1 "unsafe word"; 2 "controversial word"; 3 "prompt trigger word";
 *   4 written by attention: the share of positions so far holding a prompt trigger word.
 * - MLP zeroed (gate/up/down = 0). Attention: q_proj = k_proj = 0, so every score is 0 and each position attends
 *   uniformly to itself and every earlier position; v reads dimension 3 and o_proj writes it into dimension 4.
 *   A position's final hidden state is therefore its own embedding (dims 0–3) plus the running mean of the
 *   prompt-trigger feature (dim 4), scaled by the final RMSNorm (a positive factor that no argmax sees).
 * - Response heads read dims 0–2: a token with the unsafe feature scores Unsafe (category "Violent"), one with the
 *   controversial feature Controversial ("Politically Sensitive Topics"), every other token Safe.
 * - Query heads read dims 0 and 4: at the last prompt position the prompt is Unsafe ("Jailbreak") when any
 *   prompt-trigger word occurs in it (for prompts shorter than ~1000 tokens), Safe otherwise.
 * Label indices are looked up by name in the config's label maps, never assumed.
 */
import { GUARD_ARCHITECTURE, parseHfConfig, type Qwen3Config } from "../hf-config.js";
import { loadBundledQwen3Tokenizer } from "../tokenizer/index.js";
import { namesToLabelMap, QWEN3_VOCAB_SIZE, STREAM_LABEL_MAPS } from "./presets.js";
import { EMBED_TOKENS, FINAL_NORM, layerTensorNames, STREAM_HEAD_TENSORS } from "./tensor-layout.js";
import { SynthError } from "./tokenizer-files.js";
import { writeModelFolder } from "./write-folder.js";

/**
 * One set of trigger words of a crafted Stream model: the words, their token ids, the category the heads give them.
 *
 * @example
 * ```ts
 * import { writeCraftedStreamModel, type CraftedStreamTriggerSet } from "qwen3guard/testing";
 *
 * const unsafe: CraftedStreamTriggerSet = writeCraftedStreamModel("/tmp/stream-crafted-set").triggers.unsafe;
 * console.log(unsafe.words, unsafe.category); // ["grenade", "bomb"] Violent
 * ```
 */
export interface CraftedStreamTriggerSet {
  /** Words as they appear after a space in text. */
  words: string[];
  /** The single-token ids of ` <word>`. */
  ids: number[];
  /** The category the heads give these tokens. */
  category: string;
}

/**
 * What a crafted Stream model flags (`writeCraftedStreamModel(...).triggers`): the answer words scored Unsafe, the
 * answer words scored Controversial, and the prompt words that make a prompt Unsafe.
 *
 * @example
 * ```ts
 * import { writeCraftedStreamModel, type CraftedStreamTriggers } from "qwen3guard/testing";
 *
 * const triggers: CraftedStreamTriggers = writeCraftedStreamModel("/tmp/stream-crafted-triggers").triggers;
 * console.log(triggers.controversial.words, triggers.prompt.category); // ["protest", "riot"] Jailbreak
 * ```
 */
export interface CraftedStreamTriggers {
  /** Answer tokens the response heads score Unsafe. */
  unsafe: CraftedStreamTriggerSet;
  /** Answer tokens the response heads score Controversial. */
  controversial: CraftedStreamTriggerSet;
  /** Prompt tokens that make the query heads score the prompt Unsafe. */
  prompt: CraftedStreamTriggerSet;
}

/**
 * Options of `writeCraftedStreamModel`: the trigger words (each must be one token of Qwen3's vocabulary after a
 * space; defaults in {@link CRAFTED_STREAM_DEFAULTS}).
 *
 * @example
 * ```ts
 * import { writeCraftedStreamModel, type CraftedStreamOptions } from "qwen3guard/testing";
 *
 * const options: CraftedStreamOptions = { unsafeWords: ["knife"], controversialWords: ["war"], promptWords: ["hack"] };
 * console.log(writeCraftedStreamModel("/tmp/stream-crafted-knife", options).triggers.unsafe.words); // ["knife"]
 * ```
 */
export interface CraftedStreamOptions {
  /** Answer words the response heads score Unsafe (category Violent). */
  unsafeWords?: string[];
  /** Answer words the response heads score Controversial (category Politically Sensitive Topics). */
  controversialWords?: string[];
  /** Prompt words that make the query heads score the prompt Unsafe (category Jailbreak). */
  promptWords?: string[];
}

export interface CraftedStreamCheckpoint {
  configJson: Record<string, unknown>;
  config: Qwen3Config;
  tensors: Map<string, Float32Array>;
  triggers: CraftedStreamTriggers;
}

/**
 * The crafted Stream model's default trigger words: "grenade" and "bomb" Unsafe, "protest" and "riot"
 * Controversial in answers; "hack" makes a prompt Unsafe.
 *
 * @example
 * ```ts
 * import { CRAFTED_STREAM_DEFAULTS } from "qwen3guard/testing";
 *
 * console.log(CRAFTED_STREAM_DEFAULTS.unsafeWords); // ["grenade", "bomb"]: " grenade bomb" stops a stream
 * ```
 */
export const CRAFTED_STREAM_DEFAULTS = {
  unsafeWords: ["grenade", "bomb"],
  controversialWords: ["protest", "riot"],
  promptWords: ["hack"],
} as const;

const HIDDEN = 16;
const HEAD_DIM = 16;
const FFN = 8;
const INNER = 8;
const DIM_CONST = 0;
const DIM_UNSAFE = 1;
const DIM_CONTROVERSIAL = 2;
const DIM_PROMPT_WORD = 3;
const DIM_PROMPT_SHARE = 4;
/** Weight of a feature in a risk/category logit; the constant's weight on Safe is half of it. */
const FEATURE = 10;
/** Weight of the prompt-trigger share in the query logits (large: the share is 1/prompt length per trigger). */
const SHARE = 400;

function indexOf(labels: readonly string[], name: string, field: string): number {
  const i = labels.indexOf(name);
  if (i < 0) throw new SynthError(`the crafted model needs "${name}" in ${field}`);
  return i;
}

/** Build the crafted checkpoint in memory. */
export function craftedStreamCheckpoint(options: CraftedStreamOptions = {}): CraftedStreamCheckpoint {
  const tok = loadBundledQwen3Tokenizer();
  const idsOf = (words: readonly string[]): number[] =>
    words.map((w) => {
      const ids = tok.encode(` ${w}`, { specials: false });
      if (ids.length !== 1)
        throw new SynthError(`" ${w}" is ${ids.length} tokens in Qwen3's vocabulary; pick one-token words`);
      return ids[0]!;
    });
  const unsafeWords = [...(options.unsafeWords ?? CRAFTED_STREAM_DEFAULTS.unsafeWords)];
  const controversialWords = [...(options.controversialWords ?? CRAFTED_STREAM_DEFAULTS.controversialWords)];
  const promptWords = [...(options.promptWords ?? CRAFTED_STREAM_DEFAULTS.promptWords)];
  const unsafeIds = idsOf(unsafeWords);
  const controversialIds = idsOf(controversialWords);
  const promptIds = idsOf(promptWords);
  const all = [...unsafeIds, ...controversialIds, ...promptIds];
  if (new Set(all).size !== all.length) throw new SynthError("a word is in two trigger sets");

  const maps = STREAM_LABEL_MAPS;
  const configJson: Record<string, unknown> = {
    architectures: [GUARD_ARCHITECTURE],
    attention_bias: false,
    attention_dropout: 0.0,
    bos_token_id: 151643,
    eos_token_id: 151645,
    head_dim: HEAD_DIM,
    hidden_act: "silu",
    hidden_size: HIDDEN,
    initializer_range: 0.02,
    intermediate_size: FFN,
    max_position_embeddings: 4096,
    max_window_layers: 1,
    model_type: "qwen3",
    num_attention_heads: 1,
    num_hidden_layers: 1,
    num_key_value_heads: 1,
    rms_norm_eps: 1e-6,
    rope_scaling: null,
    rope_theta: 1000000,
    sliding_window: null,
    tie_word_embeddings: true,
    torch_dtype: "float32",
    use_cache: true,
    use_sliding_window: false,
    vocab_size: QWEN3_VOCAB_SIZE,
    guard_inner_size: INNER,
    num_risk_level: maps.response_risk_level_map.length,
    num_category: maps.response_category_map.length,
    num_query_risk_level: maps.query_risk_level_map.length,
    num_query_category: maps.query_category_map.length,
    response_risk_level_map: namesToLabelMap(maps.response_risk_level_map),
    response_category_map: namesToLabelMap(maps.response_category_map),
    query_risk_level_map: namesToLabelMap(maps.query_risk_level_map),
    query_category_map: namesToLabelMap(maps.query_category_map),
  };
  const config = parseHfConfig(configJson);
  const g = config.guard!;
  const V = QWEN3_VOCAB_SIZE;
  const H = HIDDEN;

  const embed = new Float32Array(V * H);
  for (let id = 0; id < V; id++) embed[id * H + DIM_CONST] = 1;
  for (const id of unsafeIds) embed[id * H + DIM_UNSAFE] = 1;
  for (const id of controversialIds) embed[id * H + DIM_CONTROVERSIAL] = 1;
  for (const id of promptIds) embed[id * H + DIM_PROMPT_WORD] = 1;

  // attention: zero queries and keys (uniform causal attention), v = prompt-word feature → o → share dimension
  const v = new Float32Array(HEAD_DIM * H);
  v[0 * H + DIM_PROMPT_WORD] = 1;
  const o = new Float32Array(H * HEAD_DIM);
  o[DIM_PROMPT_SHARE * HEAD_DIM + 0] = 1;

  const set = (m: Float32Array, cols: number, row: number, col: number, value: number) => {
    m[row * cols + col] = value;
  };
  const ones = (n: number) => new Float32Array(n).fill(1);

  // response path: x = (const, unsafe, controversial)
  const rPre = new Float32Array(INNER * H);
  set(rPre, H, 0, DIM_CONST, 1);
  set(rPre, H, 1, DIM_UNSAFE, 1);
  set(rPre, H, 2, DIM_CONTROVERSIAL, 1);
  const rRisk = new Float32Array(g.numRiskLevel * INNER);
  const rSafe = indexOf(g.responseRiskLevels, "Safe", "response_risk_level_map");
  const rUnsafe = indexOf(g.responseRiskLevels, "Unsafe", "response_risk_level_map");
  const rContro = indexOf(g.responseRiskLevels, "Controversial", "response_risk_level_map");
  set(rRisk, INNER, rSafe, 0, FEATURE / 2);
  set(rRisk, INNER, rSafe, 1, -FEATURE);
  set(rRisk, INNER, rSafe, 2, -FEATURE);
  set(rRisk, INNER, rUnsafe, 1, FEATURE);
  set(rRisk, INNER, rContro, 2, FEATURE);
  const unsafeCategory = "Violent";
  const controversialCategory = "Politically Sensitive Topics";
  const promptCategory = "Jailbreak";
  const rCat = new Float32Array(g.numCategory * INNER);
  set(rCat, INNER, indexOf(g.responseCategories, unsafeCategory, "response_category_map"), 1, FEATURE);
  set(rCat, INNER, indexOf(g.responseCategories, controversialCategory, "response_category_map"), 2, FEATURE);

  // query path: x = (const, prompt-word share)
  const qPre = new Float32Array(INNER * H);
  set(qPre, H, 0, DIM_CONST, 1);
  set(qPre, H, 1, DIM_PROMPT_SHARE, 1);
  const qRisk = new Float32Array(g.numQueryRiskLevel * INNER);
  set(qRisk, INNER, indexOf(g.queryRiskLevels, "Safe", "query_risk_level_map"), 0, 1);
  set(qRisk, INNER, indexOf(g.queryRiskLevels, "Unsafe", "query_risk_level_map"), 1, SHARE);
  const qCat = new Float32Array(g.numQueryCategory * INNER);
  set(qCat, INNER, indexOf(g.queryCategories, promptCategory, "query_category_map"), 1, SHARE);

  const n = layerTensorNames(0);
  const r = STREAM_HEAD_TENSORS.response;
  const q = STREAM_HEAD_TENSORS.query;
  const tensors = new Map<string, Float32Array>([
    [EMBED_TOKENS, embed],
    [n.inputLayernorm, ones(H)],
    [n.qProj, new Float32Array(HEAD_DIM * H)],
    [n.kProj, new Float32Array(HEAD_DIM * H)],
    [n.vProj, v],
    [n.oProj, o],
    [n.qNorm, ones(HEAD_DIM)],
    [n.kNorm, ones(HEAD_DIM)],
    [n.postAttentionLayernorm, ones(H)],
    [n.gateProj, new Float32Array(FFN * H)],
    [n.upProj, new Float32Array(FFN * H)],
    [n.downProj, new Float32Array(H * FFN)],
    [FINAL_NORM, ones(H)],
    [r.pre, rPre],
    [r.norm, ones(INNER)],
    [r.risk, rRisk],
    [r.category, rCat],
    [q.pre, qPre],
    [q.norm, ones(INNER)],
    [q.risk, qRisk],
    [q.category, qCat],
  ]);
  return {
    configJson,
    config,
    tensors,
    triggers: {
      unsafe: { words: unsafeWords, ids: unsafeIds, category: unsafeCategory },
      controversial: { words: controversialWords, ids: controversialIds, category: controversialCategory },
      prompt: { words: promptWords, ids: promptIds, category: promptCategory },
    },
  };
}

/**
 * Write the crafted Qwen3Guard-Stream model as a Hugging Face folder (F32 safetensors, Qwen3 tokenizer, ChatML
 * template): a one-layer model whose verdicts are known in advance. Answer tokens of the unsafe words are Unsafe,
 * of the controversial words Controversial, every other token Safe; a prompt holding a prompt word is Unsafe.
 * StreamGuard loads it like a real checkpoint; use it to test an application's streaming flow end to end. A toy: its
 * verdicts mean nothing about safety.
 *
 * @example
 * ```ts
 * import { StreamGuard } from "qwen3guard";
 * import { writeCraftedStreamModel } from "qwen3guard/testing";
 *
 * const toy = writeCraftedStreamModel("/tmp/stream-crafted");
 * const guard = await StreamGuard.load({ model: toy.dir, quantization: "f32", threads: 1 });
 * const result = await guard.moderate([
 *   { role: "user", content: "Tell me a story" },
 *   { role: "assistant", content: "Once upon a time a grenade bomb went off." },
 * ]);
 * console.log(result.response.tier, result.trigger?.text); // Unsafe " bomb"
 * await guard.close();
 * ```
 */
export function writeCraftedStreamModel(
  outDir: string,
  options: CraftedStreamOptions = {},
): { dir: string; config: Qwen3Config; triggers: CraftedStreamTriggers } {
  const checkpoint = craftedStreamCheckpoint(options);
  const config = writeModelFolder({
    outDir,
    config: checkpoint.configJson,
    tensors: checkpoint.tensors,
    dtype: "f32",
  });
  return { dir: outDir, config, triggers: checkpoint.triggers };
}
