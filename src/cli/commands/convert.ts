/**
 * `qwen3guard convert`: convert a Hugging Face Qwen3Guard model folder to GGUF for llama.cpp and print the
 * output path. Without `--out` the file goes to the content-addressed cache (a repeated call returns at
 * once); with `--out` it is written exactly there.
 */
import path from "node:path";
import { Command, Option } from "commander";
import cliProgress from "cli-progress";
import { convertHfToGguf } from "../../model/convert/convert-hf-to-gguf.js";
import { ensureGgufDetailed, type EnsureGgufProgress } from "../../model/convert/gguf-cache.js";
import type { GgufOutputType } from "../../model/convert/qwen3-tensor-plan.js";
import { parseQuantization, quantizationOption } from "../engine-options.js";
import { CliUsageError } from "../errors.js";
import { warn } from "../report.js";

export interface ConvertCliOptions {
  model: string;
  quantization?: GgufOutputType;
  /** @deprecated the old name of `quantization` (the hidden `--type` flag). */
  type?: GgufOutputType;
  out?: string;
  cacheDir?: string;
  verify?: boolean;
}

const MiB = 1024 * 1024;

/** A progress bar on stderr, shown for the hashing and conversion phases. */
function progressReporter(): { update: (p: EnsureGgufProgress) => void; stop: () => void } {
  const bar = new cliProgress.SingleBar(
    {
      stream: process.stderr,
      format: "{phase} {bar} {percentage}% | {value}/{total} MiB | {detail}",
      hideCursor: true,
      clearOnComplete: false,
    },
    cliProgress.Presets.shades_classic,
  );
  let phase: string | undefined;
  return {
    update: (p) => {
      const done = p.phase === "hash" ? p.bytesDone : p.bytesWritten;
      const total = p.bytesTotal;
      const detail =
        p.phase === "hash" ? "hashing inputs" : `${p.tensorIndex}/${p.tensorCount} ${p.tensorName}`;
      const label = p.phase === "hash" ? "hash   " : "convert";
      if (phase !== p.phase) {
        if (phase) bar.stop();
        bar.start(Math.max(1, Math.round(total / MiB)), 0, { phase: label, detail });
        phase = p.phase;
      }
      bar.update(Math.round(done / MiB), { phase: label, detail });
    },
    stop: () => {
      if (phase) bar.stop();
    },
  };
}

/** Run the conversion; resolves to the GGUF path. */
export async function runConvert(options: ConvertCliOptions): Promise<string> {
  const type = options.quantization ?? options.type ?? "q8_0";
  const progress = progressReporter();
  try {
    if (options.out) {
      const outFile = path.resolve(options.out);
      await convertHfToGguf({
        modelDir: options.model,
        outFile,
        type,
        onProgress: (p) => progress.update({ phase: "convert", ...p }),
      });
      return outFile;
    }
    const result = await ensureGgufDetailed(options.model, {
      type,
      ...(options.cacheDir ? { cacheDir: options.cacheDir } : {}),
      ...(options.verify ? { verify: true } : {}),
      onProgress: progress.update,
    });
    return result.path;
  } finally {
    progress.stop();
  }
}

export function registerConvertCommand(program: Command): void {
  const command = program
    .command("convert")
    .description(
      "convert a Hugging Face Qwen3Guard model folder to GGUF (cached by content) and print its path",
    )
    .requiredOption(
      "-m, --model <dir>",
      "Hugging Face model folder (config.json, *.safetensors, tokenizer.json)",
    )
    .addOption(quantizationOption("GGUF type to write"))
    // The old name of --quantization, kept working (hidden from --help).
    .addOption(new Option("--type <type>").argParser(parseQuantization).hideHelp())
    .option("--out <file>", "write the GGUF here instead of the cache")
    .option("--cache-dir <dir>", "cache folder (default: $QWEN3GUARD_CACHE or ~/.cache/qwen3guard)")
    .option("--verify", "hash the inputs' content even when sizes and dates are unchanged")
    .action(async (options: ConvertCliOptions) => {
      if (command.getOptionValueSource("type") === "cli") {
        if (command.getOptionValueSource("quantization") === "cli") {
          throw new CliUsageError("--type is the old name of --quantization: pass only --quantization");
        }
        warn("--type is deprecated: use --quantization");
        options = { ...options, quantization: options.type! };
      }
      const file = await runConvert(options);
      process.stdout.write(`${file}\n`);
    });
}
