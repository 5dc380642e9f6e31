/**
 * `qwen3guard synth`: write a synthetic Qwen3Guard checkpoint (seeded random weights, the official layout,
 * the real Qwen3 tokenizer) for tests and benchmarks without downloading a model.
 */
import fs from "node:fs";
import path from "node:path";
import { Command, InvalidArgumentError, Option } from "commander";
import cliProgress from "cli-progress";
import { synthesizeModelAsync } from "../../model/synth/synthesize.js";
import { removeStalePartials } from "../../model/temp-files.js";
import {
  SYNTH_KINDS,
  SYNTH_SHAPES,
  type SynthDtype,
  type SynthKind,
  type SynthShape,
} from "../../model/synth/presets.js";
import { CliUsageError } from "../errors.js";
import { runSynthCrafted } from "./synth-crafted.js";

interface SynthCliOptions {
  kind: SynthKind;
  shape: SynthShape;
  crafted?: boolean;
  out: string;
  dtype: SynthDtype;
  seed: number;
  force?: boolean;
  untied?: boolean;
}

function parseSeed(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) > 0xffffffff) {
    throw new InvalidArgumentError("expected an integer from 0 to 4294967295");
  }
  return Number(value);
}

function humanBytes(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB"];
  let v = bytes;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v.toFixed(u === 0 ? 0 : 1)} ${units[u]}`;
}

/**
 * Write the model. Ctrl-C (SIGINT) or SIGTERM while writing removes the half-written weights and exits with
 * status 130 / 143; temporary files a killed earlier run left in the folder are removed first (they do not make
 * the folder "not empty").
 */
export async function runSynth(options: SynthCliOptions): Promise<void> {
  const outDir = path.resolve(options.out);
  if (fs.existsSync(outDir)) {
    if (!fs.statSync(outDir).isDirectory()) throw new Error(`${outDir} exists and is not a folder`);
    removeStalePartials(outDir);
    if (fs.readdirSync(outDir).length > 0 && !options.force) {
      throw new Error(
        `${outDir} is not empty; choose another --out or pass --force to overwrite its model files`,
      );
    }
  }
  const big = options.shape !== "tiny";
  const bar = big
    ? new cliProgress.SingleBar(
        {
          stream: process.stderr,
          format: "synth {bar} {percentage}% | {value}/{total} MiB | {tensor}",
          hideCursor: true,
        },
        cliProgress.Presets.shades_classic,
      )
    : undefined;
  let started = false;
  const t0 = performance.now();
  const result = await synthesizeModelAsync({
    kind: options.kind,
    shape: options.shape,
    outDir,
    dtype: options.dtype,
    seed: options.seed,
    ...(options.untied ? { tieEmbeddings: false } : {}),
    onProgress: (p) => {
      if (!bar) return;
      const mib = (n: number) => Math.round(n / 2 ** 20);
      if (!started) {
        bar.start(mib(p.bytesTotal), 0, { tensor: "" });
        started = true;
      }
      bar.update(mib(p.bytesDone), { tensor: p.name });
    },
  });
  bar?.stop();
  const seconds = ((performance.now() - t0) / 1000).toFixed(1);
  process.stderr.write(
    "qwen3guard: warning: this model has random weights; its verdicts are meaningless (use it for tests and benchmarks only)\n",
  );
  process.stdout.write(
    `synth: ${options.kind} ${options.shape} ${options.dtype} seed ${options.seed} → ${outDir} ` +
      `(${result.tensorCount} tensors, ${(result.parameterCount / 1e6).toFixed(1)}M parameters, ` +
      `${humanBytes(result.bytes)} of weights, ${seconds} s)\n`,
  );
}

export function registerSynthCommand(program: Command): void {
  program
    .command("synth")
    .description(
      "write a synthetic Qwen3Guard checkpoint (random weights, official layout, real tokenizer), or with " +
        "--crafted a hand-set toy whose verdicts follow trigger words",
    )
    .addOption(new Option("--kind <kind>", "model kind").choices([...SYNTH_KINDS]).makeOptionMandatory())
    .addOption(
      new Option("--shape <shape>", "backbone shape (required unless --crafted)").choices([...SYNTH_SHAPES]),
    )
    .addOption(
      new Option(
        "--crafted",
        "the hand-set deterministic toy model (gen or stream): prints its trigger words; verdicts mean nothing about safety",
      ).conflicts(["shape", "dtype", "seed", "untied"]),
    )
    .requiredOption("--out <dir>", "output folder (must be empty or absent unless --force)")
    .addOption(new Option("--dtype <dtype>", "weight storage type").choices(["f32", "bf16"]).default("f32"))
    .option("--seed <n>", "PRNG seed", parseSeed, 0)
    .option("--untied", "write a separate lm_head instead of tying it to the embeddings")
    .option("--force", "write into a non-empty folder, replacing its model files")
    .action(async (options: SynthCliOptions) => {
      if (options.crafted) {
        runSynthCrafted({ kind: options.kind, out: options.out, ...(options.force ? { force: true } : {}) });
        return;
      }
      if (options.shape === undefined) {
        throw new CliUsageError("--shape is required (or pass --crafted for the hand-set toy model)");
      }
      await runSynth(options);
    });
}
