/**
 * config.json of a Hugging Face Qwen3 checkpoint: `Qwen3ForCausalLM` (Qwen3Guard-Gen) or `Qwen3ForGuardModel`
 * (Qwen3Guard-Stream, which adds the guard-head sizes and label maps). Every value the runtime needs is read
 * from the file; the only defaults are the ones Hugging Face's own Qwen3Config applies when a field is absent
 * (head_dim = hidden_size / num_attention_heads, tie_word_embeddings = false).
 * Field names and layouts: docs/checkpoint-layout.md.
 */
import fs from "node:fs";
import path from "node:path";
import { z } from "zod";
import { Qwen3GuardError } from "../core/errors.js";

export const CAUSAL_LM_ARCHITECTURE = "Qwen3ForCausalLM";
export const GUARD_ARCHITECTURE = "Qwen3ForGuardModel";
export type Qwen3Architecture = typeof CAUSAL_LM_ARCHITECTURE | typeof GUARD_ARCHITECTURE;

/** The Stream heads' sizes and label names, from a Qwen3ForGuardModel config. */
export interface GuardHeadConfig {
  /** `guard_inner_size`: width of the projection + RMSNorm shared by a path's two heads. */
  innerSize: number;
  numRiskLevel: number;
  numCategory: number;
  numQueryRiskLevel: number;
  numQueryCategory: number;
  /** Label names by class index, from `response_risk_level_map` etc. */
  responseRiskLevels: string[];
  responseCategories: string[];
  queryRiskLevels: string[];
  queryCategories: string[];
}

/** A parsed, validated config.json. */
export interface Qwen3Config {
  architecture: Qwen3Architecture;
  hiddenSize: number;
  numHiddenLayers: number;
  numAttentionHeads: number;
  numKeyValueHeads: number;
  headDim: number;
  intermediateSize: number;
  vocabSize: number;
  rmsNormEps: number;
  ropeTheta: number;
  maxPositionEmbeddings: number;
  tieWordEmbeddings: boolean;
  /** `torch_dtype` (or `dtype`, as newer transformers write it), if given. */
  torchDtype: string | undefined;
  /** Present exactly when the architecture is Qwen3ForGuardModel. */
  guard: GuardHeadConfig | undefined;
  /** The JSON object as read, for fields this view does not model. */
  raw: Record<string, unknown>;
}

/**
 * A model's config.json cannot be used (a field missing or of the wrong type, label maps that do not fit the
 * heads); `file` and `field` name it. Code `MODEL_CONFIG_INVALID`.
 *
 * @example
 * ```ts
 * import fs from "node:fs";
 * import { HfConfigError, StreamGuard } from "qwen3guard";
 * import { writeCraftedStreamModel } from "qwen3guard/testing";
 *
 * const { dir } = writeCraftedStreamModel("/tmp/stream-bad-config");
 * const config = JSON.parse(fs.readFileSync(`${dir}/config.json`, "utf8"));
 * fs.writeFileSync(`${dir}/config.json`, JSON.stringify({ ...config, response_risk_level_map: { "0": "Safe" } }));
 * try {
 *   await StreamGuard.load({ model: dir });
 * } catch (error) {
 *   if (error instanceof HfConfigError) console.log(error.field, error.message); // response_risk_level_map ...: has 1 labels but the head has 3 classes
 * }
 * ```
 */
export class HfConfigError extends Qwen3GuardError {
  constructor(
    /** The config.json. */
    readonly file: string,
    /** The field at fault, when one is. */
    readonly field: string | undefined,
    problem: string,
  ) {
    super("MODEL_CONFIG_INVALID", `${file}: ${field ? `field "${field}": ` : ""}${problem}`);
  }
}

const positiveInt = z.number().int().positive();
const labelMap = z.union([z.array(z.string()), z.record(z.string(), z.string())]);

const baseSchema = z.looseObject({
  architectures: z.array(z.string()).min(1),
  hidden_size: positiveInt,
  num_hidden_layers: positiveInt,
  num_attention_heads: positiveInt,
  num_key_value_heads: positiveInt,
  head_dim: positiveInt.optional(),
  intermediate_size: positiveInt,
  vocab_size: positiveInt,
  rms_norm_eps: z.number().positive(),
  rope_theta: z.number().positive(),
  max_position_embeddings: positiveInt,
  tie_word_embeddings: z.boolean().optional(),
  torch_dtype: z.string().nullish(),
  dtype: z.string().nullish(),
  hidden_act: z.string().optional(),
  attention_bias: z.boolean().optional(),
  rope_scaling: z.unknown().optional(),
  use_sliding_window: z.boolean().optional(),
});

const guardSchema = z.looseObject({
  guard_inner_size: positiveInt,
  num_risk_level: positiveInt,
  num_category: positiveInt,
  num_query_risk_level: positiveInt,
  num_query_category: positiveInt,
  response_risk_level_map: labelMap,
  response_category_map: labelMap,
  query_risk_level_map: labelMap,
  query_category_map: labelMap,
});

function firstIssue(file: string, error: z.ZodError): HfConfigError {
  const issue = error.issues[0]!;
  const field = issue.path.map(String).join(".") || undefined;
  const hint =
    issue.code === "invalid_type" && issue.message.includes("undefined")
      ? "missing (required)"
      : issue.message;
  return new HfConfigError(file, field, hint);
}

/**
 * Turn a label map into names ordered by class index. Accepts the official form, an object whose keys are the
 * indices as strings ({"0": "Safe", "1": "Unsafe", …}), or a plain array. The keys must be exactly 0..n-1.
 */
export function labelMapToNames(
  value: string[] | Record<string, string>,
  expectedCount: number,
  file: string,
  field: string,
): string[] {
  let names: string[];
  if (Array.isArray(value)) {
    names = [...value];
  } else {
    const entries = Object.entries(value);
    names = new Array<string>(entries.length);
    for (const [key, name] of entries) {
      const index = Number(key);
      if (!/^\d+$/.test(key) || index >= entries.length || names[index] !== undefined) {
        throw new HfConfigError(
          file,
          field,
          `keys must be the class indices 0..${entries.length - 1}, got "${key}"`,
        );
      }
      names[index] = name;
    }
  }
  if (names.length !== expectedCount) {
    throw new HfConfigError(
      file,
      field,
      `has ${names.length} labels but the head has ${expectedCount} classes`,
    );
  }
  return names;
}

/** Validate a config.json object. `file` is only used in error messages. */
export function parseHfConfig(json: unknown, file = "config.json"): Qwen3Config {
  const base = baseSchema.safeParse(json);
  if (!base.success) throw firstIssue(file, base.error);
  const c = base.data;

  const architecture = c.architectures[0];
  if (architecture !== CAUSAL_LM_ARCHITECTURE && architecture !== GUARD_ARCHITECTURE) {
    throw new HfConfigError(
      file,
      "architectures",
      `unsupported architecture "${String(architecture)}" (expected ${CAUSAL_LM_ARCHITECTURE} or ${GUARD_ARCHITECTURE})`,
    );
  }
  if (c.num_attention_heads % c.num_key_value_heads !== 0) {
    throw new HfConfigError(
      file,
      "num_key_value_heads",
      `${c.num_key_value_heads} does not divide num_attention_heads ${c.num_attention_heads}`,
    );
  }
  const headDim = c.head_dim ?? c.hidden_size / c.num_attention_heads;
  if (!Number.isInteger(headDim)) {
    throw new HfConfigError(
      file,
      "head_dim",
      "absent and hidden_size is not a multiple of num_attention_heads",
    );
  }
  if (headDim % 2 !== 0)
    throw new HfConfigError(file, "head_dim", `${headDim} must be even for rotary embeddings`);
  if (c.hidden_act !== undefined && c.hidden_act !== "silu") {
    throw new HfConfigError(file, "hidden_act", `"${c.hidden_act}" is not supported (Qwen3 uses "silu")`);
  }
  if (c.attention_bias === true) {
    throw new HfConfigError(file, "attention_bias", "attention biases are not supported (Qwen3 has none)");
  }
  if (c.use_sliding_window === true) {
    throw new HfConfigError(file, "use_sliding_window", "sliding-window attention is not supported");
  }

  let guard: GuardHeadConfig | undefined;
  if (architecture === GUARD_ARCHITECTURE) {
    const g = guardSchema.safeParse(json);
    if (!g.success) throw firstIssue(file, g.error);
    const d = g.data;
    guard = {
      innerSize: d.guard_inner_size,
      numRiskLevel: d.num_risk_level,
      numCategory: d.num_category,
      numQueryRiskLevel: d.num_query_risk_level,
      numQueryCategory: d.num_query_category,
      responseRiskLevels: labelMapToNames(
        d.response_risk_level_map,
        d.num_risk_level,
        file,
        "response_risk_level_map",
      ),
      responseCategories: labelMapToNames(
        d.response_category_map,
        d.num_category,
        file,
        "response_category_map",
      ),
      queryRiskLevels: labelMapToNames(
        d.query_risk_level_map,
        d.num_query_risk_level,
        file,
        "query_risk_level_map",
      ),
      queryCategories: labelMapToNames(
        d.query_category_map,
        d.num_query_category,
        file,
        "query_category_map",
      ),
    };
  }

  return {
    architecture,
    hiddenSize: c.hidden_size,
    numHiddenLayers: c.num_hidden_layers,
    numAttentionHeads: c.num_attention_heads,
    numKeyValueHeads: c.num_key_value_heads,
    headDim,
    intermediateSize: c.intermediate_size,
    vocabSize: c.vocab_size,
    rmsNormEps: c.rms_norm_eps,
    ropeTheta: c.rope_theta,
    maxPositionEmbeddings: c.max_position_embeddings,
    tieWordEmbeddings: c.tie_word_embeddings ?? false,
    torchDtype: c.torch_dtype ?? c.dtype ?? undefined,
    guard,
    raw: json as Record<string, unknown>,
  };
}

/** Read and validate `config.json` from a model folder (or a path to the file itself). */
export function loadHfConfig(folderOrFile: string): Qwen3Config {
  const file =
    fs.existsSync(folderOrFile) && fs.statSync(folderOrFile).isDirectory()
      ? path.join(folderOrFile, "config.json")
      : folderOrFile;
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (error) {
    throw new HfConfigError(
      file,
      undefined,
      `cannot be read (${(error as Error).message}); is this a model folder?`,
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new HfConfigError(file, undefined, `is not valid JSON (${(error as Error).message})`);
  }
  return parseHfConfig(json, file);
}
