/** Options shared by the commands that load a model (`moderate`, `stream`). */
import { Command, InvalidArgumentError, Option } from "commander";
import cliProgress from "cli-progress";
import type { EnsureGgufProgress } from "../model/convert/gguf-cache.js";
import { ENGINE_DEFAULTS, type EngineOptions, type KvCacheType } from "../engine/engine-options.js";

export interface EngineCliOptions {
  model?: string;
  quantization: "q8_0" | "f16" | "f32";
  gpu: "auto" | "cpu";
  contextSize: number;
  kvCache: KvCacheType;
  cacheDir?: string;
  progress: boolean;
}

/** The engine options a command's flags ask for (llama.cpp errors go to stderr). */
export function engineOptionsOf(
  options: EngineCliOptions,
): EngineOptions & Pick<EngineCliOptions, "quantization" | "cacheDir"> {
  return {
    quantization: options.quantization,
    gpu: options.gpu,
    contextSize: options.contextSize,
    kvCache: options.kvCache,
    ...(options.cacheDir ? { cacheDir: options.cacheDir } : {}),
    logger: (level: string, message: string) => {
      if (level === "error") process.stderr.write(`llama.cpp: ${message}\n`);
    },
  };
}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError("expected a positive integer");
  return n;
}

export function addEngineOptions(command: Command): Command {
  return command
    .option(
      "-m, --model <model>",
      "Hugging Face model folder, GGUF file, or hub name pulled with `qwen3guard pull` (default: $QWEN3GUARD_MODEL)",
    )
    .addOption(
      new Option("--quantization <type>", "GGUF type when converting a model folder")
        .choices(["q8_0", "f16", "f32"])
        .default("q8_0"),
    )
    .addOption(
      new Option("--gpu <mode>", "use a GPU when present, or force CPU")
        .choices(["auto", "cpu"])
        .default("auto"),
    )
    .option(
      "--context-size <tokens>",
      "positions one conversation (with its verdict or answer) may use",
      positiveInt,
      ENGINE_DEFAULTS.contextSize,
    )
    .addOption(
      new Option(
        "--kv-cache <type>",
        "KV cache type: f16 (half the memory) or f32 (probabilities ~1e-6 of an F32 reference instead of ~1e-3)",
      )
        .choices(["f16", "f32"])
        .default(ENGINE_DEFAULTS.kvCache),
    )
    .option(
      "--cache-dir <dir>",
      "cache for converted models and downloads (default: $QWEN3GUARD_CACHE or ~/.cache/qwen3guard)",
    )
    .option("--no-progress", "no progress bars on stderr");
}

export function requireModel(options: EngineCliOptions): string {
  const model = options.model ?? process.env.QWEN3GUARD_MODEL;
  if (!model) {
    throw new Error(
      "no model given: pass --model with a Qwen3Guard folder, a .gguf file or a name pulled with `qwen3guard pull` " +
        "(or set QWEN3GUARD_MODEL). To try the plumbing without a download: " +
        "`qwen3guard synth --kind gen --shape tiny --out /tmp/guard` (random weights: meaningless verdicts).",
    );
  }
  return model;
}

/** A progress bar on stderr for a model conversion (hashing, then converting tensors). */
export function conversionProgress(enabled: boolean): {
  onConvertProgress: (p: EnsureGgufProgress) => void;
  stop: () => void;
} {
  if (!enabled || !process.stderr.isTTY) return { onConvertProgress: () => undefined, stop: () => undefined };
  const bar = new cliProgress.SingleBar(
    { format: "{phase} [{bar}] {percentage}% {detail}", hideCursor: true, stream: process.stderr },
    cliProgress.Presets.shades_classic,
  );
  let phase = "";
  return {
    onConvertProgress: (p) => {
      if (p.phase === "hash") {
        if (phase !== "hash") bar.start(Math.max(1, p.bytesTotal), 0, { phase: "hashing   ", detail: "" });
        phase = "hash";
        bar.update(p.bytesDone);
      } else {
        if (phase !== "convert") {
          bar.stop();
          bar.start(Math.max(1, p.bytesTotal), 0, { phase: "converting", detail: "" });
        }
        phase = "convert";
        bar.update(p.bytesWritten, { detail: `${p.tensorIndex}/${p.tensorCount} ${p.tensorName}` });
      }
    },
    stop: () => bar.stop(),
  };
}
