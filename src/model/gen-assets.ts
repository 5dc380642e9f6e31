/**
 * Everything a Gen guard needs from `--model`, whatever form it takes: a GGUF for llama.cpp (converted once and
 * cached when the model is a Hugging Face folder), the model's own tokenizer, and its chat template if it has one.
 */
import path from "node:path";
import fs from "node:fs";
import {
  ChatTemplateNotFoundError,
  readChatTemplateFromFolder,
  readChatTemplateFromGguf,
} from "./chat-template.js";
import { ensureGgufDetailed, type EnsureGgufProgress } from "./convert/gguf-cache.js";
import { folderKind, inspectGivenGguf, requireGenModel } from "./model-kind.js";
import type { GgufOutputType } from "./convert/qwen3-tensor-plan.js";
import { tokenizerFromGguf } from "./gguf-tokenizer.js";
import { syntheticWeightsOf } from "./synthetic-marker.js";
import { resolveModel, type ResolvedModel, type ResolveModelOptions } from "./resolve-model.js";
import { QwenTokenizer } from "./tokenizer/index.js";

export interface GenAssetsOptions extends ResolveModelOptions {
  /** GGUF type when converting a Hugging Face folder (default q8_0). */
  quantization?: GgufOutputType;
  cacheDir?: string;
  onConvertProgress?: (progress: EnsureGgufProgress) => void;
  /**
   * Receives warnings: a GGUF accepted on weaker evidence of being Qwen3Guard-Gen, a damaged cached GGUF being
   * rebuilt (default: process warnings).
   */
  warn?: (message: string) => void;
}

export interface GenAssets {
  resolved: ResolvedModel;
  ggufPath: string;
  tokenizer: QwenTokenizer;
  /** The model's own chat template (Jinja), when it carries one. */
  chatTemplate?: { template: string; path: string };
  /** How the GGUF was obtained. */
  gguf: "given" | "cached" | "converted";
  /** Set for checkpoints written by `qwen3guard synth` ("random") or crafted by tests ("hand-set"). */
  synthetic?: string;
}

/**
 * The files of a Gen model whose weights run on remote engines: the tokenizer and the template, and no GGUF unless
 * the model is one (a Hugging Face folder is not converted; its tokenizer is read from tokenizer.json).
 */
export interface RemoteGenAssets extends Omit<GenAssets, "ggufPath" | "gguf"> {
  ggufPath: string | undefined;
  gguf: "given" | "none";
}

/**
 * {@link prepareGenAssets} without converting a folder: what a guard on remote engines needs (the tokenizer, from
 * tokenizer.json, and the template). A GGUF model is read as usual.
 */
export function prepareRemoteGenAssets(
  spec: string,
  options: Omit<GenAssetsOptions, "quantization" | "onConvertProgress"> = {},
): Promise<RemoteGenAssets> {
  return prepare(spec, options, false);
}

/**
 * @throws ModelKindError when the model is not Qwen3Guard-Gen (a Stream checkpoint or backbone, a plain Qwen3
 *         model, another architecture, a GGUF whose kind cannot be told); GgufIntegrityError for a damaged GGUF.
 */
export function prepareGenAssets(spec: string, options: GenAssetsOptions = {}): Promise<GenAssets> {
  return prepare(spec, options, true);
}

async function prepare(spec: string, options: GenAssetsOptions, convert: true): Promise<GenAssets>;
async function prepare(spec: string, options: GenAssetsOptions, convert: false): Promise<RemoteGenAssets>;
async function prepare(
  spec: string,
  options: GenAssetsOptions,
  convert: boolean,
): Promise<GenAssets | RemoteGenAssets> {
  const warn = options.warn ?? ((message: string) => process.emitWarning(message, "Qwen3GuardModel"));
  const resolved = await resolveModel(spec, options);
  if (resolved.kind === "gguf") {
    const { warning } = requireGenModel(resolved.file, inspectGivenGguf(resolved.file).kind);
    if (warning !== undefined) warn(warning);
    return {
      resolved,
      ggufPath: resolved.file,
      tokenizer: tokenizerFromGguf(resolved.file),
      chatTemplate: optionalTemplate(() => readChatTemplateFromGguf(resolved.file)),
      gguf: "given",
      synthetic: syntheticWeightsOf(resolved.file),
    };
  }
  let chatTemplate: GenAssets["chatTemplate"];
  try {
    chatTemplate = await readChatTemplateFromFolder(resolved.dir);
  } catch (error) {
    if (!(error instanceof ChatTemplateNotFoundError)) throw error;
  }
  requireGenModel(resolved.dir, folderKind(resolved.architectures, chatTemplate?.template));
  const tokenizerJson = path.join(resolved.dir, "tokenizer.json");
  if (!fs.existsSync(tokenizerJson)) {
    throw new Error(
      `${resolved.dir} has no tokenizer.json: copy the model's tokenizer files into the folder`,
    );
  }
  if (!convert) {
    return {
      resolved,
      ggufPath: undefined,
      tokenizer: QwenTokenizer.fromTokenizerJson(tokenizerJson),
      chatTemplate,
      gguf: "none",
      synthetic: syntheticWeightsOf(resolved.dir),
    };
  }
  const converted = await ensureGgufDetailed(resolved.dir, {
    type: options.quantization ?? "q8_0",
    cacheDir: options.cacheDir,
    onProgress: options.onConvertProgress,
    warn,
  });
  return {
    resolved,
    ggufPath: converted.path,
    // The converted GGUF carries tokenizer.json's vocabulary and merges: reading them from there costs less
    // memory than parsing tokenizer.json, and the ids are the same (tested on all RTP-LX prompts).
    tokenizer: tokenizerFromGguf(converted.path),
    chatTemplate,
    gguf: converted.source === "converted" ? "converted" : "cached",
    synthetic: syntheticWeightsOf(resolved.dir),
  };
}

function optionalTemplate<T>(read: () => T): T | undefined {
  try {
    return read();
  } catch (error) {
    if (error instanceof ChatTemplateNotFoundError) return undefined;
    throw error;
  }
}
