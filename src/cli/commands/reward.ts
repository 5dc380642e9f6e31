/**
 * `qwen3guard reward`: safety-RL rewards (technical report §3.5) for a JSONL file of rollouts, judged with a
 * Qwen3Guard-Gen model: JSONL in, JSONL out in input order (src/eval/rewards.ts has the line formats).
 *
 *   qwen3guard reward -m MODEL --input rollouts.jsonl --output rewards.jsonl   resumable: reruns skip done lines
 *   my-sampler | qwen3guard reward -m MODEL > rewards.jsonl
 */
import fs from "node:fs";
import readline from "node:readline";
import { Command, InvalidArgumentError } from "commander";
import { resolveEngineOptions } from "../../engine/engine-options.js";
import { GenGuard } from "../../guard/gen-guard.js";
import { doneLines, runRewards } from "../../eval/rewards.js";
import {
  addEngineOptions,
  conversionProgress,
  engineOptionsOf,
  requireModel,
  type EngineCliOptions,
} from "../engine-options.js";

interface RewardCliOptions extends EngineCliOptions {
  input: string;
  output?: string;
  batchSize: number;
  threads?: number;
  sequences?: number;
}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError("expected a positive integer");
  return n;
}

export function registerRewardCommand(program: Command): void {
  const command = program
    .command("reward")
    .description(
      "guard-only and hybrid safety-RL rewards for JSONL rollouts, judged by Qwen3Guard-Gen (docs/evaluation.md)",
    )
    .option(
      "--input <file>",
      "JSONL rollouts: {id?, prompt|messages, answer|response, thinking?, helpfulness?} ('-' = stdin)",
      "-",
    )
    .option("--output <file>", "append results here and skip the lines it already holds (default: stdout)")
    .option(
      "--batch-size <n>",
      "rollouts read and judged per batch (written in input order)",
      positiveInt,
      16,
    )
    .option("--threads <n>", "compute threads", positiveInt)
    .option("--sequences <n>", "rollouts judged at once (engine sequences)", positiveInt);
  addEngineOptions(command);
  command.action(async (options: RewardCliOptions) => {
    const engine = {
      ...engineOptionsOf(options),
      ...(options.threads ? { threads: options.threads } : {}),
      ...(options.sequences ? { sequences: options.sequences } : {}),
    };
    const done = options.output ? doneLines(options.output) : new Set<number>();
    const bar = conversionProgress(options.progress);
    const guard = await GenGuard.load({
      model: requireModel(options, "gen"),
      ...engine,
      onConvertProgress: bar.onConvertProgress,
    }).finally(() => bar.stop());
    const controller = new AbortController();
    let interrupts = 0;
    const onSigint = () => {
      if (++interrupts > 1) process.exit(130);
      controller.abort();
      process.stderr.write("interrupted: writing the batch in flight (Ctrl-C again to quit now)\n");
    };
    process.on("SIGINT", onSigint);
    const out = options.output ? fs.openSync(options.output, "a") : undefined;
    try {
      if (guard.info.synthetic) {
        process.stderr.write(
          `warning: this is a synthetic model (${guard.info.synthetic} weights): its verdicts mean nothing about safety, nor do these rewards\n`,
        );
      }
      const input = options.input === "-" ? process.stdin : fs.createReadStream(options.input);
      const result = await runRewards({
        guard,
        lines: readline.createInterface({ input, crlfDelay: Infinity }),
        write: (line) => (out === undefined ? process.stdout.write(line) : fs.writeSync(out, line)),
        done,
        concurrency: resolveEngineOptions(engine).sequences,
        batchSize: options.batchSize,
        signal: controller.signal,
        onBadLine: (line, message) => process.stderr.write(`line ${line}: skipped: ${message}\n`),
        onBatch: (p) => {
          if (options.progress)
            process.stderr.write(
              `reward: ${p.written} written, ${p.skipped} already done, ${p.bad} bad lines\n`,
            );
        },
      });
      if (result.interrupted) process.exitCode = 130;
      else if (result.bad > 0) process.exitCode = 2;
    } finally {
      process.off("SIGINT", onSigint);
      if (out !== undefined) fs.closeSync(out);
      await guard.close();
    }
  });
}
