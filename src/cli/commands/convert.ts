/**
 * `qwen3guard convert`: convert a Hugging Face Qwen3Guard model folder to GGUF for llama.cpp and print the
 * output path. Without `--out` the file goes to the content-addressed cache (a repeated call returns at
 * once; a damaged cached file is converted again); with `--out` it is written exactly there.
 *
 *   qwen3guard convert --model DIR [--type q8_0|f16|f32] [--out FILE] [--verify]
 *   qwen3guard convert --model FILE.gguf --verify       check a GGUF against the SHA-256 it records
 *
 * Ctrl-C (SIGINT) or SIGTERM while converting removes the half-written file and exits with status 130 / 143.
 */
import fs from "node:fs";
import path from "node:path";
import { Command, Option } from "commander";
import cliProgress from "cli-progress";
import { convertHfToGguf } from "../../model/convert/convert-hf-to-gguf.js";
import { ensureGgufDetailed, type EnsureGgufProgress } from "../../model/convert/gguf-cache.js";
import type { GgufOutputType } from "../../model/convert/qwen3-tensor-plan.js";
import { parseQuantization, quantizationOption } from "../engine-options.js";
import { CliUsageError } from "../errors.js";
import { warn } from "../report.js";
import { ConvertError } from "../../model/convert/convert-error.js";
import { GgufIntegrityError, verifyGguf } from "../../model/gguf/gguf-integrity.js";

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

/** `--model FILE.gguf --verify`: the full check of a GGUF file; throws GgufIntegrityError when it is damaged. */
async function verifyFile(file: string): Promise<string> {
  const result = await verifyGguf(file);
  if (result.problem !== undefined) {
    throw new GgufIntegrityError(
      file,
      result.problem,
      "Convert the model folder again (qwen3guard convert --model DIR --out FILE), or download the file again",
    );
  }
  process.stderr.write(
    result.digest === "checked"
      ? `${file}: OK (the SHA-256 it records matches its content)\n`
      : `${file}: the header and the size are consistent; it records no qwen3guard.sha256 (it was not written by qwen3guard), so its tensor data could not be checked\n`,
  );
  return file;
}

/** Run the conversion; resolves to the GGUF path. */
export async function runConvert(options: ConvertCliOptions): Promise<string> {
  if (fs.statSync(options.model, { throwIfNoEntry: false })?.isFile()) {
    if (options.verify) return verifyFile(path.resolve(options.model));
    throw new ConvertError(
      `${options.model} is a file: --model takes a Hugging Face model folder (to check a GGUF file, add --verify)`,
    );
  }
  const type = options.quantization ?? options.type ?? "q8_0";
  const progress = progressReporter();
  const warn = (message: string) => process.stderr.write(`warning: ${message}\n`);
  try {
    if (options.out) {
      const outFile = path.resolve(options.out);
      await convertHfToGguf({
        modelDir: options.model,
        outFile,
        type,
        onProgress: (p) => progress.update({ phase: "convert", ...p }),
      });
      // --verify with --out: read the written file back and check it against its recorded digest.
      return options.verify ? await verifyFile(outFile) : outFile;
    }
    const result = await ensureGgufDetailed(options.model, {
      type,
      ...(options.cacheDir ? { cacheDir: options.cacheDir } : {}),
      ...(options.verify ? { verify: true } : {}),
      onProgress: progress.update,
      warn,
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
      "Hugging Face model folder (config.json, *.safetensors, tokenizer.json); with --verify, also a .gguf file to check",
    )
    .addOption(quantizationOption("GGUF type to write"))
    // The old name of --quantization, kept working (hidden from --help).
    .addOption(new Option("--type <type>").argParser(parseQuantization).hideHelp())
    .option("--out <file>", "write the GGUF here instead of the cache")
    .option("--cache-dir <dir>", "cache folder (default: $QWEN3GUARD_CACHE or ~/.cache/qwen3guard)")
    .option(
      "--verify",
      "hash the inputs' content even when sizes and dates are unchanged, and check the cached GGUF against the SHA-256 it records (a damaged one is converted again); with a .gguf --model, only check that file",
    )
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
