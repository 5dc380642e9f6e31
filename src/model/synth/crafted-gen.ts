/**
 * A hand-crafted, deterministic Qwen3Guard-Gen model for tests and benchmarks: real vocabulary (151936 rows,
 * Qwen3's tokenizer), one decoder layer, weights set by hand so that plain greedy decoding of a rendered Gen
 * prompt (prompt moderation) emits a well-formed verdict, and the verdict depends on a trigger word:
 *
 *   trigger absent  → "Safety: Safe\nCategories: None"
 *   trigger present → "Safety: Unsafe\nCategories: Violent"   (anywhere in the conversation, any turn)
 *
 * How it works (hidden size 32, every dimension has one job; see docs/testing-models.md):
 * - Embeddings: dimension 0 is 1 for every token (a constant); each token that matters for the output gets a
 *   one-hot "current token" dimension; the trigger token and `</think>` get identity dimensions.
 * - MLP zeroed (down_proj = 0): the residual stream carries the embedding plus the attention output.
 * - Attention, two heads. q_norm/k_norm normalise each head's vector to a fixed length, so a query or key
 *   that is nonzero in one rotary pair only has a fixed size; a zero key stays zero.
 *   (a) trigger head: the same query at every position, a key only on the trigger token, in the
 *       lowest-frequency rotary pair (rotation over the whole context below 0.1 rad): score ≈ +S on the
 *       trigger, 0 elsewhere. Its value writes 1 into the "triggered" dimension, so the output is ≈ 1 at every
 *       position after a trigger and exactly 0 when there is none.
 *   (b) field head: a key only on `</think>` (once per rendered prompt: the end of the template), in a
 *       high-frequency rotary pair with a phase chosen so that the score is S·sin(θ·(m − Δ)), Δ the distance
 *       to `</think>`: positive at the colon after `Safety`, negative at the colon after `Categories`. The
 *       output ("field") is ≈ 1 while answering the Safety line and ≈ 0 on the Categories line.
 * - Untied LM head: current token → next token for the fixed text of the format, and at a colon a linear
 *   function of (field, triggered) whose argmax is the tier or the category.
 * RMSNorm scales the final hidden state by a positive factor, which never changes an argmax.
 */
import { IM_END_ID, QWEN3_VOCAB_SIZE } from "./presets.js";
import { EMBED_TOKENS, FINAL_NORM, LM_HEAD, layerTensorNames } from "./tensor-layout.js";
import { SynthError } from "./tokenizer-files.js";
import { writeModelFolder } from "./write-folder.js";
import { CAUSAL_LM_ARCHITECTURE, parseHfConfig, type Qwen3Config } from "../hf-config.js";
import { loadBundledQwen3Tokenizer } from "../tokenizer/index.js";

/**
 * What a crafted Gen model does, for tests to check against: its trigger word and token, and the verdicts of
 * prompt moderation without and with the trigger (`writeCraftedGenModel(...).trigger`).
 *
 * @example
 * ```ts
 * import { writeCraftedGenModel, type CraftedGenTrigger } from "qwen3guard/testing";
 *
 * const trigger: CraftedGenTrigger = writeCraftedGenModel("/tmp/gen-crafted-bomb", { triggerWord: "bomb" }).trigger;
 * console.log(trigger.word, trigger.triggered.raw); // bomb Safety: Unsafe\nCategories: Violent
 * ```
 */
export interface CraftedGenTrigger {
  /** The trigger word, as it must appear in text (after a space: the token is ` <word>`). */
  word: string;
  /** The token id the trigger head keys on. */
  tokenId: number;
  /** Verdicts of prompt moderation (raw text as greedy decoding emits it, special tokens skipped). */
  benign: { tier: "Safe"; categories: []; raw: string };
  triggered: { tier: "Unsafe"; categories: ["Violent"]; raw: string };
}

export interface CraftedGenCheckpoint {
  /** config.json contents. */
  configJson: Record<string, unknown>;
  config: Qwen3Config;
  /** HF tensor name → row-major values. */
  tensors: Map<string, Float32Array>;
  trigger: CraftedGenTrigger;
}

/**
 * Options of `writeCraftedGenModel`: the trigger word.
 *
 * @example
 * ```ts
 * import { writeCraftedGenModel, type CraftedGenOptions } from "qwen3guard/testing";
 *
 * const options: CraftedGenOptions = { triggerWord: "bomb" };
 * console.log(writeCraftedGenModel("/tmp/gen-crafted-options", options).trigger.word); // bomb
 * ```
 */
export interface CraftedGenOptions {
  /** The trigger word (default "grenade"); ` <word>` must be one token of Qwen3's vocabulary. */
  triggerWord?: string;
}

/**
 * The crafted Gen model's default trigger word: a prompt containing ` grenade` is Unsafe (Violent).
 *
 * @example
 * ```ts
 * import { CRAFTED_GEN_DEFAULT_TRIGGER } from "qwen3guard/testing";
 *
 * console.log(`Where can I buy a ${CRAFTED_GEN_DEFAULT_TRIGGER}?`); // Unsafe (Violent) for the crafted model
 * ```
 */
export const CRAFTED_GEN_DEFAULT_TRIGGER = "grenade";

const HIDDEN = 32;
const HEAD_DIM = 32;
const ROPE_THETA = 1_000_000;
/** Attention score (before softmax) on the trigger token / at the field head's extremes. */
const SCORE = 40;
/** LM-head weight of "current token → next token" and of the (field, triggered) choice at a colon. */
const NEXT_WEIGHT = 30;
const CHOICE_WEIGHT = 10;

const DIM_CONST = 0;
const DIM_TRIGGER_ID = 1;
const DIM_THINK_ID = 2;
const DIM_FIELD = 3;
const DIM_TRIGGERED = 4;
const FIRST_TOKEN_DIM = 5;

/** The rotary pair whose rotation is slowest: the trigger head lives there. */
const TRIGGER_PAIR = HEAD_DIM / 2 - 1;

function ropeFrequency(pair: number): number {
  return Math.pow(ROPE_THETA, (-2 * pair) / HEAD_DIM);
}

/** Build the crafted checkpoint in memory. */
export function craftedGenCheckpoint(options: CraftedGenOptions = {}): CraftedGenCheckpoint {
  const tok = loadBundledQwen3Tokenizer();
  const enc = (text: string) => tok.encode(text, { specials: false });
  const word = options.triggerWord ?? CRAFTED_GEN_DEFAULT_TRIGGER;
  const triggerIds = enc(` ${word}`);
  if (triggerIds.length !== 1) {
    throw new SynthError(
      `the trigger " ${word}" is ${triggerIds.length} tokens in Qwen3's vocabulary; pick a word that is one token`,
    );
  }
  const triggerId = triggerIds[0]!;
  const thinkEnd = tok.addedTokenId("</think>");
  const imEnd = tok.addedTokenId("<|im_end|>");
  if (imEnd !== IM_END_ID) throw new SynthError(`<|im_end|> is ${imEnd}, expected ${IM_END_ID}`);
  const [promptEnd] = enc("\n\n");
  const safetyField = enc("Safety:");
  const categoriesField = enc("\nCategories:");
  const safe = enc(" Safe");
  const unsafe = enc(" Unsafe");
  const none = enc(" None");
  const violent = enc(" Violent");
  const colon = safetyField.at(-1)!;
  if (categoriesField.at(-1) !== colon || enc(":")[0] !== colon) {
    throw new SynthError("both output fields must end with the same ':' token");
  }
  if (safe.length !== unsafe.length) throw new SynthError("' Safe' and ' Unsafe' must have as many tokens");
  if (promptEnd === undefined) throw new SynthError("'\\n\\n' does not tokenize");

  // Fixed transitions: current token → next token. The colon is the one token whose successor is a choice.
  const next = new Map<number, number>();
  const chain = (ids: number[]) => {
    for (let i = 0; i + 1 < ids.length; i++) {
      const prev = next.get(ids[i]!);
      if (prev !== undefined && prev !== ids[i + 1]) {
        throw new SynthError(`token ${ids[i]} would need two successors (${prev}, ${ids[i + 1]})`);
      }
      next.set(ids[i]!, ids[i + 1]!);
    }
  };
  chain([promptEnd, ...safetyField]);
  for (const tier of [safe, unsafe]) chain([...tier, ...categoriesField]);
  for (const category of [none, violent]) chain([...category, imEnd]);
  if (next.has(colon)) throw new SynthError("the ':' token must not have a fixed successor");

  const currentTokens = [...new Set([...next.keys(), colon])];
  const dimOf = new Map(currentTokens.map((id, i) => [id, FIRST_TOKEN_DIM + i]));
  if (FIRST_TOKEN_DIM + currentTokens.length > HIDDEN)
    throw new SynthError("too many tokens for the hidden size");
  for (const id of [triggerId, thinkEnd]) {
    if (dimOf.has(id))
      throw new SynthError(`token ${id} cannot be both a trigger/marker and an output token`);
  }

  const configJson: Record<string, unknown> = {
    architectures: [CAUSAL_LM_ARCHITECTURE],
    attention_bias: false,
    attention_dropout: 0.0,
    bos_token_id: 151643,
    eos_token_id: IM_END_ID,
    head_dim: HEAD_DIM,
    hidden_act: "silu",
    hidden_size: HIDDEN,
    initializer_range: 0.02,
    intermediate_size: 8,
    max_position_embeddings: 32768,
    max_window_layers: 1,
    model_type: "qwen3",
    num_attention_heads: 2,
    num_hidden_layers: 1,
    num_key_value_heads: 2,
    rms_norm_eps: 1e-6,
    rope_scaling: null,
    rope_theta: ROPE_THETA,
    sliding_window: null,
    tie_word_embeddings: false,
    torch_dtype: "float32",
    use_cache: true,
    use_sliding_window: false,
    vocab_size: QWEN3_VOCAB_SIZE,
  };
  const config = parseHfConfig(configJson);
  const V = QWEN3_VOCAB_SIZE;
  const H = HIDDEN;
  const hd = HEAD_DIM;
  const half = hd / 2;

  // Embeddings.
  const embed = new Float32Array(V * H);
  for (let id = 0; id < V; id++) embed[id * H + DIM_CONST] = 1;
  for (const [id, dim] of dimOf) embed[id * H + dim] = 1;
  embed[triggerId * H + DIM_TRIGGER_ID] = 1;
  embed[thinkEnd * H + DIM_THINK_ID] = 1;
  // After input_layernorm (weight 1) an embedding with two unit entries reads 1 / rms = sqrt(H / 2).
  const normedUnit = Math.sqrt(H / 2);

  const q = new Float32Array(2 * hd * H);
  const k = new Float32Array(2 * hd * H);
  const v = new Float32Array(2 * hd * H);
  const o = new Float32Array(H * 2 * hd);
  const set = (m: Float32Array, cols: number, row: number, col: number, value: number) => {
    m[row * cols + col] = value;
  };
  // After q_norm/k_norm (weight w) a vector with one unit direction becomes sqrt(hd)·w in that direction, so
  // a query/key pair scores sqrt(hd)·wq·wk·cos(angle) (the 1/sqrt(hd) scale included). wq = 1 everywhere.
  const kNormWeight = SCORE / Math.sqrt(hd);

  // Head 0 — trigger: query and key along the slowest rotary pair, phase 0.
  set(q, H, TRIGGER_PAIR, DIM_CONST, 1);
  set(k, H, TRIGGER_PAIR, DIM_TRIGGER_ID, 1);
  set(v, H, 0, DIM_TRIGGER_ID, 1);
  set(o, 2 * hd, DIM_TRIGGERED, 0, 1 / normedUnit);

  // Head 1 — field: score S·sin(θ·(m − Δ)), Δ = distance to </think>, zero halfway between the two colons.
  const safetyColon = 1 + safetyField.length; // "\n\n", then "Safety:"; Δ of its last token
  const categoriesColon = safetyColon + safe.length + categoriesField.length;
  const mid = (safetyColon + categoriesColon) / 2;
  const halfGap = (categoriesColon - safetyColon) / 2;
  // The rotary pair that separates the two colons best (sin(θ·halfGap) largest), never the trigger's pair.
  let fieldPair = 0;
  for (let p = 1; p < TRIGGER_PAIR; p++) {
    if (Math.sin(ropeFrequency(p) * halfGap) > Math.sin(ropeFrequency(fieldPair) * halfGap)) fieldPair = p;
  }
  const theta = ropeFrequency(fieldPair);
  // q at position t is rotated by tθ, k at j by jθ + φ: q·k ∝ cos(Δθ − φ); φ = θm − π/2 gives sin(θ(m − Δ)).
  const phase = theta * mid - Math.PI / 2;
  set(q, H, hd + fieldPair, DIM_CONST, 1);
  set(k, H, hd + fieldPair, DIM_THINK_ID, Math.cos(phase));
  set(k, H, hd + fieldPair + half, DIM_THINK_ID, Math.sin(phase));
  set(v, H, hd, DIM_THINK_ID, 1);
  set(o, 2 * hd, DIM_FIELD, hd, 1 / normedUnit);
  const kNorm = new Float32Array(hd);
  for (const d of [TRIGGER_PAIR, TRIGGER_PAIR + half, fieldPair, fieldPair + half]) kNorm[d] = kNormWeight;

  // LM head.
  const lm = new Float32Array(V * H);
  const add = (id: number, dim: number, value: number) => {
    lm[id * H + dim] = lm[id * H + dim]! + value;
  };
  for (const [current, following] of next) add(following, dimOf.get(current)!, NEXT_WEIGHT);
  // At a colon: a linear score of (F = field, T = triggered) per choice, the right one 1 above the others:
  //   Safe F − T, Unsafe F + T − 1, None 1 − F − T, Violent T − F.
  const choice: [number, number, number, number][] = [
    [safe[0]!, 1, -1, 0],
    [unsafe[0]!, 1, 1, -1],
    [none[0]!, -1, -1, 1],
    [violent[0]!, -1, 1, 0],
  ];
  for (const [id, f, t, c] of choice) {
    add(id, dimOf.get(colon)!, NEXT_WEIGHT);
    add(id, DIM_FIELD, CHOICE_WEIGHT * f);
    add(id, DIM_TRIGGERED, CHOICE_WEIGHT * t);
    add(id, DIM_CONST, CHOICE_WEIGHT * c);
  }

  const ones = (n: number) => new Float32Array(n).fill(1);
  const n = layerTensorNames(0);
  const tensors = new Map<string, Float32Array>([
    [EMBED_TOKENS, embed],
    [n.inputLayernorm, ones(H)],
    [n.qProj, q],
    [n.kProj, k],
    [n.vProj, v],
    [n.oProj, o],
    [n.qNorm, ones(hd)],
    [n.kNorm, kNorm],
    [n.postAttentionLayernorm, ones(H)],
    [n.gateProj, new Float32Array(8 * H)],
    [n.upProj, new Float32Array(8 * H)],
    [n.downProj, new Float32Array(H * 8)],
    [FINAL_NORM, ones(H)],
    [LM_HEAD, lm],
  ]);
  return {
    configJson,
    config,
    tensors,
    trigger: {
      word,
      tokenId: triggerId,
      benign: { tier: "Safe", categories: [], raw: "Safety: Safe\nCategories: None" },
      triggered: { tier: "Unsafe", categories: ["Violent"], raw: "Safety: Unsafe\nCategories: Violent" },
    },
  };
}

/**
 * Write the crafted Qwen3Guard-Gen model as a Hugging Face folder (F32 safetensors, Qwen3 tokenizer, Gen chat
 * template): a one-layer model whose prompt-moderation verdict is known in advance, Unsafe (Violent) when the
 * conversation holds the trigger word (default "grenade"), Safe otherwise. GenGuard loads it like a real checkpoint;
 * use it to test an application's moderation flow end to end. A toy: its verdicts mean nothing about safety.
 *
 * @example
 * ```ts
 * import { GenGuard } from "qwen3guard";
 * import { writeCraftedGenModel } from "qwen3guard/testing";
 *
 * const toy = writeCraftedGenModel("/tmp/gen-crafted");
 * const guard = await GenGuard.load({ model: toy.dir, quantization: "f32", threads: 1 });
 * const verdict = await guard.moderatePrompt("Where can I buy a grenade?");
 * console.log(verdict.tier, verdict.categories); // Unsafe ["Violent"]
 * await guard.close();
 * ```
 */
export function writeCraftedGenModel(
  outDir: string,
  options: CraftedGenOptions = {},
): { dir: string; config: Qwen3Config; trigger: CraftedGenTrigger } {
  const checkpoint = craftedGenCheckpoint(options);
  const config = writeModelFolder({
    outDir,
    config: checkpoint.configJson,
    tensors: checkpoint.tensors,
    dtype: "f32",
  });
  return { dir: outDir, config, trigger: checkpoint.trigger };
}

/**
 * The default crafted Gen model's trigger word and expected verdicts (without writing a model): what a test
 * expects from `writeCraftedGenModel(dir)`.
 *
 * @example
 * ```ts
 * import { craftedGenTrigger } from "qwen3guard/testing";
 *
 * console.log(craftedGenTrigger.word, craftedGenTrigger.benign.tier, craftedGenTrigger.triggered.categories); // grenade Safe ["Violent"]
 * ```
 */
export const craftedGenTrigger: Readonly<Omit<CraftedGenTrigger, "tokenId">> = {
  word: CRAFTED_GEN_DEFAULT_TRIGGER,
  benign: { tier: "Safe", categories: [], raw: "Safety: Safe\nCategories: None" },
  triggered: { tier: "Unsafe", categories: ["Violent"], raw: "Safety: Unsafe\nCategories: Violent" },
};
