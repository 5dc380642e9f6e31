/**
 * Seeded synthetic Qwen3Guard checkpoints (random weights, real layout, real tokenizer) for tests and
 * benchmarks. Weights: embeddings and linear layers N(0, 1/fan_in) so activations stay O(1) through many
 * layers; norm weights 1 + N(0, 0.1²) so a missing or misplaced norm changes the numbers. Each tensor has
 * its own PRNG stream derived from (seed, name): the bytes do not depend on write order.
 * The verdicts of such a model are meaningless; only its numerics and layout are real.
 */
import { parseHfConfig, type Qwen3Config } from "../hf-config.js";
import { SeededRandom, streamSeed } from "./prng.js";
import { synthConfigJson, type SynthDtype, type SynthKind, type SynthShape } from "./presets.js";
import { checkpointTensors, type TensorSpec } from "./tensor-layout.js";
import {
  writeCheckpointFolder,
  writeCheckpointFolderAsync,
  type CheckpointFolderOptions,
  type TensorSource,
  type WriteProgress,
} from "./write-folder.js";

/**
 * Options of `synthesizeModel`: the kind and shape, the folder to write, the weights' type and seed, and a progress
 * callback.
 *
 * @example
 * ```ts
 * import { synthesizeModel, type SynthesizeOptions } from "qwen3guard/testing";
 *
 * const options: SynthesizeOptions = { kind: "stream", shape: "tiny", outDir: "/tmp/stream-tiny", dtype: "f32", seed: 7 };
 * console.log(synthesizeModel(options).config.numHiddenLayers);
 * ```
 */
export interface SynthesizeOptions {
  kind: SynthKind;
  shape: SynthShape;
  /** The folder to write (created when missing). */
  outDir: string;
  /** Default `f32` (`bf16` is the official checkpoints' type). */
  dtype?: SynthDtype;
  /** Seed of the weights (default 0): the same seed writes the same bytes. */
  seed?: number;
  /** Override the shape's usual tying (tiny, 0.6B and 4B are tied; 8B is not). */
  tieEmbeddings?: boolean;
  onProgress?: (progress: WriteProgress) => void;
}

/**
 * What `synthesizeModel` wrote: the folder, the parsed config, and the size of the checkpoint.
 *
 * @example
 * ```ts
 * import { synthesizeModel, type SynthesizeResult } from "qwen3guard/testing";
 *
 * const result: SynthesizeResult = synthesizeModel({ kind: "gen", shape: "tiny", outDir: "/tmp/gen-tiny" });
 * console.log(result.tensorCount, result.parameterCount, result.bytes);
 * ```
 */
export interface SynthesizeResult {
  /** The model folder (pass it as `model`). */
  outDir: string;
  /** Its config.json, parsed. */
  config: Qwen3Config;
  tensorCount: number;
  parameterCount: number;
  bytes: number;
}

export const NORM_NOISE_STD = 0.1;

/** The seeded values of one tensor. */
export function synthTensorValues(spec: TensorSpec, seed: number): Float32Array {
  const count = spec.shape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(count);
  const rng = new SeededRandom(streamSeed(seed, spec.name));
  if (spec.role === "norm") return rng.fillNormal(out, NORM_NOISE_STD, 1);
  const fanIn = spec.shape[spec.shape.length - 1]!;
  return rng.fillNormal(out, 1 / Math.sqrt(fanIn));
}

function planSynthesis(options: SynthesizeOptions): {
  folder: CheckpointFolderOptions;
  result: (config: Qwen3Config) => SynthesizeResult;
} {
  const dtype = options.dtype ?? "f32";
  const seed = options.seed ?? 0;
  const configJson = synthConfigJson({
    kind: options.kind,
    shape: options.shape,
    dtype,
    seed,
    ...(options.tieEmbeddings !== undefined ? { tieEmbeddings: options.tieEmbeddings } : {}),
  });
  const specs = checkpointTensors(parseHfConfig(configJson));
  const sources = specs.map((spec): TensorSource => ({ spec, values: () => synthTensorValues(spec, seed) }));
  const parameterCount = specs.reduce((sum, s) => sum + s.shape.reduce((a, b) => a * b, 1), 0);
  return {
    folder: {
      outDir: options.outDir,
      configJson,
      sources,
      dtype,
      ...(options.onProgress ? { onProgress: options.onProgress } : {}),
    },
    result: (config) => ({
      outDir: options.outDir,
      config,
      tensorCount: specs.length,
      parameterCount,
      bytes: parameterCount * (dtype === "f32" ? 4 : 2),
    }),
  };
}

/**
 * Write a seeded random Qwen3Guard checkpoint in the official layout (config.json, safetensors, Qwen3's real
 * tokenizer and chat template): what `qwen3guard synth` writes. GenGuard and StreamGuard load it like a real
 * checkpoint, so it tests the plumbing and the numerics; its verdicts mean nothing about safety (`info.synthetic`
 * says `"random"`). For known verdicts use the crafted models (`writeCraftedGenModel`, `writeCraftedStreamModel`).
 *
 * @example
 * ```ts
 * import { synthesizeModel } from "qwen3guard/testing";
 *
 * const { outDir } = synthesizeModel({ kind: "gen", shape: "tiny", outDir: "/tmp/qwen3guard-gen-tiny" });
 * console.log(outDir); // pass it to GenGuard.load({ model: outDir })
 * ```
 */
export function synthesizeModel(options: SynthesizeOptions): SynthesizeResult {
  const plan = planSynthesis(options);
  return plan.result(writeCheckpointFolder(plan.folder));
}

/**
 * {@link synthesizeModel}, yielding between tensors so that an interrupted process removes its half-written
 * weights and exits (the CLI's `synth`).
 */
export async function synthesizeModelAsync(options: SynthesizeOptions): Promise<SynthesizeResult> {
  const plan = planSynthesis(options);
  return plan.result(await writeCheckpointFolderAsync(plan.folder));
}
