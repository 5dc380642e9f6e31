/** Options shared by the commands that load a model (`moderate`, `stream`). */
import fs from "node:fs";
import path from "node:path";
import { Command, InvalidArgumentError, Option } from "commander";
import cliProgress from "cli-progress";
import type { EnsureGgufProgress } from "../model/convert/gguf-cache.js";
import { ENGINE_DEFAULTS, type EngineOptions, type KvCacheType } from "../engine/engine-options.js";
import { readGgufScalars } from "../model/gguf/gguf-reader.js";
import { GGUF_OUTPUT_TYPES, type GgufOutputType } from "../model/convert/qwen3-tensor-plan.js";
import { resolveModel } from "../model/resolve-model.js";
import { CliUsageError } from "./errors.js";
import { warn } from "./report.js";

export type ModelKind = "gen" | "stream";

export interface EngineCliOptions {
  model?: string;
  quantization: Quantization;
  gpu: "auto" | "cpu";
  contextSize: number;
  kvCache: KvCacheType;
  cacheDir?: string;
  progress: boolean;
}

/** The engine options a command's flags ask for (warnings and llama.cpp errors go to stderr). */
export function engineOptionsOf(
  options: EngineCliOptions,
): EngineOptions & Pick<EngineCliOptions, "quantization" | "cacheDir"> {
  return {
    quantization: options.quantization,
    gpu: options.gpu,
    contextSize: options.contextSize,
    kvCache: options.kvCache,
    ...(options.cacheDir ? { cacheDir: options.cacheDir } : {}),
    warn,
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

/** GGUF types the converter writes (the --quantization choices everywhere). */
export const QUANTIZATIONS = GGUF_OUTPUT_TYPES;
export type Quantization = GgufOutputType;

/** Parse a GGUF type, any case (`Q8_0` as llama.cpp spells it, or `q8_0`). */
export function parseQuantization(value: string): Quantization {
  const v = value.toLowerCase();
  if (!(QUANTIZATIONS as readonly string[]).includes(v)) {
    throw new InvalidArgumentError(`expected one of ${QUANTIZATIONS.join(", ")}`);
  }
  return v as Quantization;
}

/** `--quantization <type>`: the same flag, choices and default on every command that converts a model. */
export function quantizationOption(description: string, flags = "--quantization <type>"): Option {
  return new Option(flags, `${description} (${QUANTIZATIONS.join(", ")}; default: q8_0)`)
    .argParser(parseQuantization)
    .default("q8_0");
}

export function addEngineOptions(command: Command): Command {
  return command
    .option(
      "-m, --model <model>",
      "Hugging Face model folder, GGUF file, or hub name pulled with `qwen3guard pull` (default: $QWEN3GUARD_MODEL)",
    )
    .addOption(quantizationOption("GGUF type when converting a model folder"))
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

/** The model a command runs on: --model, else $QWEN3GUARD_MODEL; a usage error naming the right kind without. */
export function requireModel(options: EngineCliOptions, kind: ModelKind): string {
  const model = options.model ?? process.env.QWEN3GUARD_MODEL;
  if (!model) {
    const name = kind === "gen" ? "Gen" : "Stream";
    throw new CliUsageError(
      `no model given: pass -m/--model with a Qwen3Guard-${name} folder, a .gguf file or a name pulled with ` +
        `\`qwen3guard pull Qwen/Qwen3Guard-${name}-0.6B\` (or set QWEN3GUARD_MODEL). To try the plumbing without a ` +
        `download: \`qwen3guard synth --kind ${kind} --shape tiny --out /tmp/qwen3guard-${kind}\` (random weights: ` +
        `meaningless verdicts)`,
    );
  }
  return model;
}

/** The positions a model was trained for: config.json's max_position_embeddings, or a GGUF's context_length. */
async function trainedContext(
  spec: string,
  cacheDir: string | undefined,
): Promise<{ positions: number; from: string } | undefined> {
  try {
    const resolved = await resolveModel(spec, cacheDir ? { cacheDir } : {});
    if (resolved.kind === "hf-folder") {
      const file = path.join(resolved.dir, "config.json");
      const config = JSON.parse(fs.readFileSync(file, "utf8")) as { max_position_embeddings?: unknown };
      const n = config.max_position_embeddings;
      return typeof n === "number"
        ? { positions: n, from: "max_position_embeddings in config.json" }
        : undefined;
    }
    const metadata = readGgufScalars(resolved.file); // the vocabulary is skipped
    const arch = metadata.get("general.architecture");
    if (arch !== undefined && arch.type !== "string") return undefined;
    const archName = arch?.value ?? "qwen3";
    const value = metadata.get(`${archName}.context_length`)?.value;
    const n = typeof value === "bigint" ? Number(value) : value;
    return typeof n === "number"
      ? { positions: n, from: `${archName}.context_length in the GGUF` }
      : undefined;
  } catch {
    // The load reports a model it cannot use; this check only warns.
    return undefined;
  }
}

/** Warn when --context-size goes beyond what the model was trained for. */
export async function warnContextSize(model: string, options: EngineCliOptions): Promise<void> {
  const trained = await trainedContext(model, options.cacheDir);
  if (trained && options.contextSize > trained.positions) {
    warn(
      `--context-size ${options.contextSize} is beyond the ${trained.positions} positions the model was trained ` +
        `for (${trained.from}): verdicts past position ${trained.positions} are unreliable`,
    );
  }
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
