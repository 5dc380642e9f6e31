/**
 * `qwen3guard pull NAME`: fetch a model from the Hugging Face hub (or the mirror in HF_ENDPOINT) into the cache
 * and print what to pass as --model: the snapshot folder, or the .gguf file for a GGUF repository.
 * Progress goes to stderr; a second pull of the same revision downloads nothing.
 */
import fs from "node:fs";
import path from "node:path";
import type { Writable } from "node:stream";
import { Command } from "commander";
import cliProgress from "cli-progress";
import { pullModel, type PullProgress, type PullResult } from "../../model/hub/index.js";
import { formatBytes } from "../../model/hub/file-selection.js";
import { CAUSAL_LM_ARCHITECTURE, GUARD_ARCHITECTURE } from "../../model/hf-config.js";

export interface PullCliOptions {
  revision?: string;
  cacheDir?: string;
  token?: string;
  endpoint?: string;
  gguf?: string;
  progress?: boolean;
}

export interface PullIo {
  stdout: Writable;
  stderr: Writable & { isTTY?: boolean };
}

/** One bar on stderr for the whole pull: bytes over all files, and the file being fetched. */
function progressBar(stderr: PullIo["stderr"]): { update: (p: PullProgress) => void; stop: () => void } {
  const bar = new cliProgress.SingleBar(
    {
      stream: stderr,
      format: "{bar} {percentage}% | {doneH}/{totalH} | file {fileNo}/{filesTotal} {file}",
      hideCursor: true,
      clearOnComplete: false,
    },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  return {
    update: (p) => {
      const payload = {
        doneH: formatBytes(p.done),
        totalH: formatBytes(p.total),
        fileNo: p.filesDone + 1,
        filesTotal: p.filesTotal,
        file: p.file,
      };
      if (!started) {
        bar.start(Math.max(1, p.total), 0, payload);
        started = true;
      }
      bar.update(p.done, payload);
    },
    stop: () => {
      if (started) bar.stop();
    },
  };
}

/** Pull `name` and print the path to pass as --model; resolves to the pull result. */
export async function runPull(
  name: string,
  options: PullCliOptions,
  io: PullIo = { stdout: process.stdout, stderr: process.stderr },
): Promise<PullResult> {
  const bar = options.progress === false ? null : progressBar(io.stderr);
  let result: PullResult;
  try {
    result = await pullModel(name, {
      ...(options.revision ? { revision: options.revision } : {}),
      ...(options.cacheDir ? { cacheDir: options.cacheDir } : {}),
      ...(options.token ? { token: options.token } : {}),
      ...(options.endpoint ? { endpoint: options.endpoint } : {}),
      ...(options.gguf ? { gguf: options.gguf } : {}),
      ...(bar ? { onProgress: bar.update } : {}),
    });
  } finally {
    bar?.stop();
  }
  const at = `${result.repo}@${result.commit.slice(0, 12)}`;
  if (result.offline) {
    io.stderr.write(`hub not reachable (or HF_HUB_OFFLINE set): using the cached ${at}\n`);
  } else if (result.fromCache) {
    io.stderr.write(`${at} is already in the cache\n`);
  } else {
    io.stderr.write(`downloaded ${formatBytes(result.downloadedBytes)} of ${at}\n`);
  }
  const model = result.ggufFile ?? result.dir;
  const use = commandFor(result);
  if (use) io.stderr.write(`use it with: qwen3guard ${use} -m ${model}\n`);
  io.stdout.write(`${model}\n`);
  return result;
}

/** The command a pulled model is for: `moderate` for a Gen checkpoint, `stream` for a Stream one. */
function commandFor(result: PullResult): string | undefined {
  if (result.ggufFile === undefined) {
    try {
      const config = JSON.parse(fs.readFileSync(path.join(result.dir, "config.json"), "utf8")) as {
        architectures?: unknown;
      };
      const arch = Array.isArray(config.architectures) ? config.architectures : [];
      if (arch.includes(GUARD_ARCHITECTURE)) return "stream";
      if (arch.includes(CAUSAL_LM_ARCHITECTURE)) return "moderate";
    } catch {
      // no readable config.json: say nothing
    }
    return undefined;
  }
  // A GGUF holds the Gen model (a Stream GGUF also needs its heads: --heads).
  return /stream/i.test(result.repo) ? undefined : "moderate";
}

export function registerPullCommand(program: Command): void {
  program
    .command("pull")
    .description(
      "download a model from the Hugging Face hub into the cache (resumable, checksum-verified) and print the path to pass as --model",
    )
    .argument("<name>", "hub model name, owner/name[@revision], e.g. Qwen/Qwen3Guard-Gen-0.6B")
    .option("--revision <rev>", "branch, tag or commit (default: main, or the @revision in NAME)")
    .option("--cache-dir <dir>", "cache folder (default: $QWEN3GUARD_CACHE or ~/.cache/qwen3guard)")
    .option("--token <token>", "Hugging Face access token for gated or private models (default: $HF_TOKEN)")
    .option("--endpoint <url>", "hub URL or mirror (default: $HF_ENDPOINT or https://huggingface.co)")
    .option(
      "--gguf <file>",
      "for a repository of GGUF files: the file to fetch (name or unique part, e.g. Q8_0)",
    )
    .option("--no-progress", "do not draw a progress bar")
    .action(async (name: string, options: PullCliOptions) => {
      await runPull(name, options);
    });
}
