/**
 * Everything a Stream guard needs from `--model`: the backbone as a GGUF llama.cpp can load, the eight head
 * tensors as float32 (llama.cpp refuses a GGUF holding tensors its architecture does not expect, so the heads are
 * read from the safetensors, never from the GGUF), the label maps from config.json, and the tokenizer.
 *
 * - A Hugging Face Qwen3Guard-Stream folder (or a hub name pulled earlier): the backbone is converted once and
 *   cached (the converter skips the head tensors and writes no LM head for a tied checkpoint); the heads and the
 *   label maps come from the same folder.
 * - A GGUF file: it cannot carry the heads, so `heads` must name where they are — the Stream model folder, or a
 *   `.safetensors` file with the model's `config.json` beside it.
 */
import fs from "node:fs";
import path from "node:path";
import { RISK_TIERS, type RiskTier } from "../core/labels.js";
import { ensureGgufDetailed, type EnsureGgufProgress } from "./convert/gguf-cache.js";
import { listWeightFiles } from "./convert/hf-checkpoint.js";
import type { GgufOutputType } from "./convert/qwen3-tensor-plan.js";
import { syntheticMarkerOf, syntheticWeightsOf } from "./synthetic-marker.js";
import { tokenizerFromGguf } from "./gguf-tokenizer.js";
import { CAUSAL_LM_ARCHITECTURE, GUARD_ARCHITECTURE, loadHfConfig, type Qwen3Config } from "./hf-config.js";
import { readChatTemplateFromFolder } from "./chat-template.js";
import {
  ModelKindError,
  folderKind,
  ggufKind,
  inspectGivenGguf,
  requireStreamBackbone,
} from "./model-kind.js";
import { resolveModel, type ResolvedModel, type ResolveModelOptions } from "./resolve-model.js";
import { SafetensorsFile } from "./safetensors.js";
import { STREAM_HEAD_TENSORS } from "./synth/tensor-layout.js";
import { QwenTokenizer } from "./tokenizer/index.js";
import { Qwen3GuardError } from "../core/errors.js";

/**
 * A Stream model cannot be used as given: its heads, label maps or backbone do not fit together (a backbone GGUF
 * whose heads do not match it, heads missing from the checkpoint); the message says what to pass instead. Code
 * `STREAM_MODEL_INVALID`.
 *
 * @example
 * ```ts
 * import { StreamAssetsError, StreamGuard } from "qwen3guard";
 *
 * try {
 *   await (await StreamGuard.load({ model: "/models/backbone.gguf", heads: "/models/Qwen3Guard-Stream-0.6B" })).close();
 * } catch (error) {
 *   if (error instanceof StreamAssetsError) console.error("heads and backbone do not fit:", error.message);
 *   else throw error;
 * }
 * ```
 */
export class StreamAssetsError extends Qwen3GuardError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("STREAM_MODEL_INVALID", message, options);
  }
}

/** One head path (response or query): projection, RMSNorm, risk and category linears, row-major [out, in]. */
export interface StreamHeadPathWeights {
  /** [innerSize, hiddenSize] */
  pre: Float32Array;
  /** [innerSize] */
  norm: Float32Array;
  /** [riskLabels.length, innerSize] */
  risk: Float32Array;
  /** [categoryLabels.length, innerSize] */
  category: Float32Array;
  /** Risk label names by class index, from config.json. */
  riskLabels: readonly string[];
  /** The tier each risk class stands for (the label names must be Safe / Unsafe / Controversial). */
  riskTiers: readonly RiskTier[];
  /** Category label names by class index, from config.json. */
  categoryLabels: readonly string[];
}

export interface StreamHeadWeights {
  hiddenSize: number;
  innerSize: number;
  /** The heads' RMSNorm epsilon (config.json `rms_norm_eps`). */
  rmsNormEps: number;
  response: StreamHeadPathWeights;
  query: StreamHeadPathWeights;
  /** Where the tensors were read from. */
  source: string;
}

export interface StreamAssetsOptions extends ResolveModelOptions {
  /** GGUF type when converting a Hugging Face folder (default q8_0). */
  quantization?: GgufOutputType;
  cacheDir?: string;
  /** With a GGUF `model`: the Stream model folder, or a .safetensors file with config.json beside it. */
  heads?: string;
  onConvertProgress?: (progress: EnsureGgufProgress) => void;
  /**
   * Receives warnings: a backbone GGUF that does not say it is a Stream backbone, a damaged cached GGUF being
   * rebuilt (default: process warnings).
   */
  warn?: (message: string) => void;
}

export interface StreamAssets {
  resolved: ResolvedModel;
  /** The backbone (no head tensors). */
  ggufPath: string;
  gguf: "given" | "cached" | "converted";
  /** config.json of the Stream checkpoint (architecture Qwen3ForGuardModel). */
  config: Qwen3Config;
  heads: StreamHeadWeights;
  tokenizer: QwenTokenizer;
  /** Set for checkpoints written by `qwen3guard synth` ("random") or crafted by tests ("hand-set"). */
  synthetic?: string;
}

/** Map risk label names to tiers; every tier must appear exactly once (the decision rule depends on them). */
export function riskTiersOf(labels: readonly string[], field: string): RiskTier[] {
  const tiers = labels.map((name) => {
    const tier = RISK_TIERS.find((t) => t === name);
    if (tier === undefined) {
      throw new StreamAssetsError(
        `config.json ${field} names "${name}": the Stream decision rule needs the risk labels ${RISK_TIERS.join(", ")}`,
      );
    }
    return tier;
  });
  if (new Set(tiers).size !== tiers.length || tiers.length !== RISK_TIERS.length) {
    throw new StreamAssetsError(
      `config.json ${field} must name each of ${RISK_TIERS.join(", ")} exactly once, got ${labels.join(", ")}`,
    );
  }
  return tiers;
}

function safetensorsFilesOf(source: string): string[] {
  if (fs.statSync(source).isDirectory()) return listWeightFiles(source).weights;
  return [source];
}

/**
 * Read the eight head tensors as float32 from a Stream folder (single or sharded safetensors) or one
 * .safetensors file, checking every shape against `config`.
 */
export function loadStreamHeadWeights(source: string, config: Qwen3Config): StreamHeadWeights {
  const g = config.guard;
  if (!g) {
    throw new ModelKindError(
      source,
      config.architecture === CAUSAL_LM_ARCHITECTURE ? "gen" : "other",
      "stream",
      `${source}: config.json says ${config.architecture}, not ${GUARD_ARCHITECTURE}: this is not a Qwen3Guard-Stream model and has no Stream heads; ` +
        `pass the Qwen3Guard-Stream folder (or its .safetensors with config.json beside it)`,
    );
  }
  if (!fs.existsSync(source)) throw new StreamAssetsError(`heads not found: ${source}`);
  const files = safetensorsFilesOf(source).map((f) => SafetensorsFile.open(f));
  try {
    const read = (name: string, shape: number[]): Float32Array => {
      const file = files.find((f) => f.has(name));
      if (!file) {
        throw new StreamAssetsError(
          `${source} holds no tensor ${name}: pass the Qwen3Guard-Stream safetensors (they carry the heads)`,
        );
      }
      const actual = file.info(name).shape;
      if (actual.length !== shape.length || actual.some((d, i) => d !== shape[i])) {
        throw new StreamAssetsError(
          `${file.filePath}: ${name} has shape [${actual.join(", ")}] but config.json implies [${shape.join(", ")}]: weights and config do not match`,
        );
      }
      return file.readFloat32(name);
    };
    const h = config.hiddenSize;
    const inner = g.innerSize;
    const path_ = (
      names: (typeof STREAM_HEAD_TENSORS)["response" | "query"],
      riskLabels: string[],
      categoryLabels: string[],
      riskField: string,
    ): StreamHeadPathWeights => ({
      pre: read(names.pre, [inner, h]),
      norm: read(names.norm, [inner]),
      risk: read(names.risk, [riskLabels.length, inner]),
      category: read(names.category, [categoryLabels.length, inner]),
      riskLabels,
      riskTiers: riskTiersOf(riskLabels, riskField),
      categoryLabels,
    });
    return {
      hiddenSize: h,
      innerSize: inner,
      rmsNormEps: config.rmsNormEps,
      response: path_(
        STREAM_HEAD_TENSORS.response,
        g.responseRiskLevels,
        g.responseCategories,
        "response_risk_level_map",
      ),
      query: path_(STREAM_HEAD_TENSORS.query, g.queryRiskLevels, g.queryCategories, "query_risk_level_map"),
      source,
    };
  } finally {
    for (const f of files) f.close();
  }
}

/** config.json for a `--heads` path: the folder's own, or the one beside a .safetensors file. */
function headsConfig(heads: string): Qwen3Config {
  if (fs.statSync(heads).isFile() && startsWithGgufMagic(heads)) {
    const evidence = ggufKind(heads);
    throw new ModelKindError(
      heads,
      evidence.kind,
      "stream",
      `--heads ${heads} is ${evidence.description}: no GGUF carries the Qwen3Guard-Stream heads (llama.cpp refuses extra tensors); ` +
        `pass the Qwen3Guard-Stream folder, or its .safetensors with config.json beside it`,
    );
  }
  const dir = fs.statSync(heads).isDirectory() ? heads : path.dirname(heads);
  const file = path.join(dir, "config.json");
  if (!fs.existsSync(file)) {
    throw new StreamAssetsError(
      `${heads}: no config.json beside the heads; the label maps and head sizes come from the Stream model's config.json — pass the model folder as heads`,
    );
  }
  return loadHfConfig(file);
}

function startsWithGgufMagic(file: string): boolean {
  const head = Buffer.alloc(4);
  const fd = fs.openSync(file, "r");
  try {
    return fs.readSync(fd, head, 0, 4, 0) === 4 && head.toString("latin1") === "GGUF";
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * The files of a Stream model whose backbone runs on remote engines: the heads, the label maps and the tokenizer;
 * no GGUF unless the model is one (a Hugging Face folder is not converted; its tokenizer is read from
 * tokenizer.json).
 */
export interface RemoteStreamAssets extends Omit<StreamAssets, "ggufPath" | "gguf"> {
  ggufPath: string | undefined;
  gguf: "given" | "none";
}

/** {@link prepareStreamAssets} without converting a folder: what a guard with a remote backbone needs. */
export async function prepareRemoteStreamAssets(
  spec: string,
  options: Omit<StreamAssetsOptions, "quantization" | "onConvertProgress"> = {},
): Promise<RemoteStreamAssets> {
  const resolved = await resolveModel(spec, options);
  if (resolved.kind === "gguf") {
    const given = await prepareStreamAssets(spec, options);
    return { ...given, gguf: "given" };
  }
  const { config, tokenizerPath } = await checkStreamFolder(resolved);
  return {
    resolved,
    ggufPath: undefined,
    gguf: "none",
    config,
    heads: loadStreamHeadWeights(resolved.dir, config),
    tokenizer: QwenTokenizer.fromTokenizerJson(tokenizerPath),
    synthetic: syntheticMarkerOf(config.raw),
  };
}

/**
 * Resolve `spec` and prepare the backbone GGUF, the heads, the label maps and the tokenizer.
 * @throws ModelKindError when the model (or `heads`) is not Qwen3Guard-Stream; GgufIntegrityError for a
 *         damaged GGUF; StreamAssetsError for anything else wrong with the files.
 */
export async function prepareStreamAssets(
  spec: string,
  options: StreamAssetsOptions = {},
): Promise<StreamAssets> {
  const warn = options.warn ?? ((message: string) => process.emitWarning(message, "Qwen3GuardModel"));
  const resolved = await resolveModel(spec, options);
  if (resolved.kind === "gguf") {
    const { warning } = requireStreamBackbone(
      resolved.file,
      inspectGivenGguf(resolved.file).kind,
      options.heads,
    );
    if (options.heads === undefined) {
      throw new StreamAssetsError(
        `${resolved.file} is a GGUF file, which cannot carry the Qwen3Guard-Stream heads (llama.cpp refuses extra tensors): ` +
          `pass the Stream model folder instead, or give the heads with --heads (the model folder, or its .safetensors with config.json beside it)`,
      );
    }
    if (!fs.existsSync(options.heads))
      throw new StreamAssetsError(`--heads: no such file or folder: ${options.heads}`);
    const config = headsConfig(options.heads);
    const heads = loadStreamHeadWeights(options.heads, config);
    if (warning !== undefined) warn(warning);
    return {
      resolved,
      ggufPath: resolved.file,
      gguf: "given",
      config,
      heads,
      tokenizer: tokenizerFromGguf(resolved.file),
      synthetic: syntheticWeightsOf(resolved.file) ?? syntheticMarkerOf(config.raw),
    };
  }
  const { config } = await checkStreamFolder(resolved);
  const heads = loadStreamHeadWeights(resolved.dir, config);
  const converted = await ensureGgufDetailed(resolved.dir, {
    type: options.quantization ?? "q8_0",
    ...(options.cacheDir !== undefined ? { cacheDir: options.cacheDir } : {}),
    ...(options.onConvertProgress ? { onProgress: options.onConvertProgress } : {}),
    warn,
  });
  return {
    resolved,
    ggufPath: converted.path,
    gguf: converted.source === "converted" ? "converted" : "cached",
    config,
    heads,
    // Same vocabulary as tokenizer.json, read with less memory (see gen-assets.ts).
    tokenizer: tokenizerFromGguf(converted.path),
    synthetic: syntheticMarkerOf(config.raw),
  };
}

/**
 * A Stream model folder's config and tokenizer, checked: a folder that is not a Stream model must hold a Qwen3
 * backbone (by its architecture, or its chat template when it has one), and tokenizer.json must be there.
 */
async function checkStreamFolder(
  resolved: Extract<ResolvedModel, { kind: "hf-folder" }>,
): Promise<{ config: Qwen3Config; tokenizerPath: string }> {
  if (resolved.flavor !== "stream") {
    let template: string | undefined;
    try {
      template = (await readChatTemplateFromFolder(resolved.dir)).template;
    } catch {
      /* no template (or an unreadable one): the architecture alone decides */
    }
    requireStreamBackbone(resolved.dir, folderKind(resolved.architectures, template), undefined);
  }
  const config = loadHfConfig(resolved.dir);
  const tokenizerPath = path.join(resolved.dir, "tokenizer.json");
  if (!fs.existsSync(tokenizerPath)) {
    throw new StreamAssetsError(
      `${resolved.dir} has no tokenizer.json: copy the model's tokenizer files into the folder`,
    );
  }
  return { config, tokenizerPath };
}
