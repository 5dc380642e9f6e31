/**
 * Writing a Hugging Face-layout model folder: config.json, model.safetensors, tokenizer.json,
 * tokenizer_config.json, generation_config.json. Used by the seeded synthesizer and by tests that craft
 * deterministic weights by hand (`writeModelFolder`). Every tensor is checked against the shapes the config
 * implies before anything is written.
 */
import fs from "node:fs";
import path from "node:path";
import {
  writeSafetensors,
  writeSafetensorsAsync,
  type SafetensorsDtype,
  type TensorToWrite,
} from "../safetensors.js";
import { removeStalePartials } from "../temp-files.js";
import { CAUSAL_LM_ARCHITECTURE, parseHfConfig, type Qwen3Config } from "../hf-config.js";
import { checkpointTensors, type TensorSpec } from "./tensor-layout.js";
import { ENDOFTEXT_ID, IM_END_ID, torchDtypeName, type SynthDtype } from "./presets.js";
import { SynthError, genChatTemplate, qwen3ChatTemplate, writeTokenizerFiles } from "./tokenizer-files.js";
import { SYNTHETIC_CONFIG_KEY } from "../synthetic-marker.js";

export interface TensorSource {
  spec: TensorSpec;
  /** Produces the values when the writer reaches this tensor. */
  values: () => Float32Array;
}

/**
 * Progress of a synthetic checkpoint being written (`synthesizeModel`'s `onProgress`), after each tensor.
 *
 * @example
 * ```ts
 * import { synthesizeModel, type WriteProgress } from "qwen3guard/testing";
 *
 * const onProgress = (p: WriteProgress) => console.log(`${p.tensorsDone}/${p.tensorCount} ${p.name}`);
 * synthesizeModel({ kind: "gen", shape: "tiny", outDir: "/tmp/gen-progress", onProgress });
 * ```
 */
export interface WriteProgress {
  /** Tensors written so far (1-based after each tensor). */
  tensorsDone: number;
  /** Tensors in the checkpoint. */
  tensorCount: number;
  /** The tensor just written. */
  name: string;
  /** Bytes of weights written so far, of `bytesTotal`. */
  bytesDone: number;
  bytesTotal: number;
}

export interface CheckpointFolderOptions {
  outDir: string;
  /** The config.json object (written as given, with `torch_dtype` set to match `dtype`). */
  configJson: Record<string, unknown>;
  sources: readonly TensorSource[];
  dtype: SynthDtype;
  /** Chat template for tokenizer_config.json; default: the Gen template for Qwen3ForCausalLM, else plain Qwen3. */
  chatTemplate?: string;
  /** Copy the real Qwen3 tokenizer files (default true). Turn off for toy vocabularies. */
  withTokenizer?: boolean;
  onProgress?: (progress: WriteProgress) => void;
}

const STORAGE_DTYPE: Record<SynthDtype, SafetensorsDtype> = { f32: "F32", bf16: "BF16" };

function generationConfig(config: Qwen3Config): Record<string, unknown> {
  const base: Record<string, unknown> = {
    bos_token_id: ENDOFTEXT_ID,
    eos_token_id: [IM_END_ID, ENDOFTEXT_ID],
    pad_token_id: ENDOFTEXT_ID,
  };
  // Qwen3Guard-Gen's reference decoding is greedy.
  if (config.architecture === CAUSAL_LM_ARCHITECTURE) base.do_sample = false;
  return base;
}

interface FolderPlan {
  config: Qwen3Config;
  configJson: Record<string, unknown>;
  chatTemplate: string | undefined;
  weightsFile: string;
  tensors: TensorToWrite[];
  onTensor: (index: number, total: number, name: string) => void;
}

function planFolder(options: CheckpointFolderOptions): FolderPlan {
  const configJson = { ...options.configJson, torch_dtype: torchDtypeName(options.dtype) };
  const config = parseHfConfig(configJson, path.join(options.outDir, "config.json"));
  const storage = STORAGE_DTYPE[options.dtype];
  const bytesPer = options.dtype === "f32" ? 4 : 2;
  const sizes = options.sources.map((s) => s.spec.shape.reduce((a, b) => a * b, 1) * bytesPer);
  const bytesTotal = sizes.reduce((a, b) => a + b, 0);
  let bytesDone = 0;
  const chatTemplate =
    options.chatTemplate ??
    (options.withTokenizer === false
      ? undefined
      : config.architecture === CAUSAL_LM_ARCHITECTURE
        ? genChatTemplate()
        : qwen3ChatTemplate());
  fs.mkdirSync(options.outDir, { recursive: true });
  // Temporary files an interrupted run of an earlier process left here.
  removeStalePartials(options.outDir);
  return {
    config,
    configJson,
    chatTemplate,
    weightsFile: path.join(options.outDir, "model.safetensors"),
    tensors: options.sources.map((s) => ({
      name: s.spec.name,
      dtype: storage,
      shape: s.spec.shape,
      values: s.values,
    })),
    onTensor: (done, total, name) => {
      bytesDone += sizes[done - 1]!;
      options.onProgress?.({ tensorsDone: done, tensorCount: total, name, bytesDone, bytesTotal });
    },
  };
}

function finishFolder(options: CheckpointFolderOptions, plan: FolderPlan): Qwen3Config {
  fs.writeFileSync(path.join(options.outDir, "config.json"), JSON.stringify(plan.configJson, null, 2) + "\n");
  fs.writeFileSync(
    path.join(options.outDir, "generation_config.json"),
    JSON.stringify(generationConfig(plan.config), null, 2) + "\n",
  );
  if (options.withTokenizer !== false && plan.chatTemplate !== undefined)
    writeTokenizerFiles(options.outDir, plan.chatTemplate);
  return plan.config;
}

/** Write a complete model folder from lazily produced tensors. Returns the parsed config. */
export function writeCheckpointFolder(options: CheckpointFolderOptions): Qwen3Config {
  const plan = planFolder(options);
  writeSafetensors(plan.weightsFile, plan.tensors, { format: "pt" }, plan.onTensor);
  return finishFolder(options, plan);
}

/**
 * {@link writeCheckpointFolder}, yielding between tensors: an interrupted process (SIGINT, SIGTERM) removes the
 * half-written weights and exits (see src/model/temp-files.ts). The CLI's `synth` uses this form.
 */
export async function writeCheckpointFolderAsync(options: CheckpointFolderOptions): Promise<Qwen3Config> {
  const plan = planFolder(options);
  await writeSafetensorsAsync(plan.weightsFile, plan.tensors, { format: "pt" }, plan.onTensor);
  return finishFolder(options, plan);
}

export interface WriteModelFolderOptions {
  outDir: string;
  /** The config.json object; its sizes decide every tensor's expected shape. */
  config: Record<string, unknown>;
  /** Tensor name → row-major values (HF layout: linear weights are [out, in]). */
  tensors: ReadonlyMap<string, Float32Array>;
  dtype: SynthDtype;
  /** What to do with tensors the map lacks: reject (default) or write zeros. */
  missing?: "error" | "zeros";
  chatTemplate?: string;
  /** Copy the real Qwen3 tokenizer files (default true). Turn off for toy vocabularies. */
  withTokenizer?: boolean;
}

/**
 * Write a hand-crafted model. Every tensor must match the shape the config implies; unknown names are
 * rejected, so a typo cannot silently leave a weight at zero.
 */
export function writeModelFolder(options: WriteModelFolderOptions): Qwen3Config {
  const config = parseHfConfig(options.config, path.join(options.outDir, "config.json"));
  const specs = checkpointTensors(config);
  const expected = new Set(specs.map((s) => s.name));
  for (const name of options.tensors.keys()) {
    if (!expected.has(name)) {
      throw new SynthError(
        `tensor ${name} is not part of a ${config.architecture} checkpoint with this config`,
      );
    }
  }
  const sources = specs.map((spec): TensorSource => {
    const count = spec.shape.reduce((a, b) => a * b, 1);
    const given = options.tensors.get(spec.name);
    if (given === undefined) {
      if (options.missing !== "zeros")
        throw new SynthError(`tensor ${spec.name} [${spec.shape.join(", ")}] is missing`);
      return { spec, values: () => new Float32Array(count) };
    }
    if (given.length !== count) {
      throw new SynthError(
        `tensor ${spec.name} has ${given.length} values; the config implies shape [${spec.shape.join(", ")}] = ${count}`,
      );
    }
    return { spec, values: () => given };
  });
  return writeCheckpointFolder({
    outDir: options.outDir,
    // Hand-crafted weights are synthetic too: mark them unless the caller did.
    configJson: { [SYNTHETIC_CONFIG_KEY]: { weights: "hand-set" }, ...options.config },
    sources,
    dtype: options.dtype,
    ...(options.chatTemplate !== undefined ? { chatTemplate: options.chatTemplate } : {}),
    ...(options.withTokenizer !== undefined ? { withTokenizer: options.withTokenizer } : {}),
  });
}
