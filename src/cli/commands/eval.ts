/**
 * `qwen3guard eval`: measure a guard on a labelled data set (docs/evaluation.md).
 *
 *   qwen3guard eval -m MODEL --data xstest-prompts --task prompt --out runs/xstest
 *   qwen3guard eval -m STREAM --data response_loc.parquet --task stream --out runs/loc
 *   qwen3guard eval compare runs/a runs/b [--html compare.html]
 *   qwen3guard eval report runs/a [--policy P] [--target-precision 0.9]
 *
 * Predictions are appended to DIR/predictions.jsonl as they are made; a rerun with the same --out skips the rows
 * already done, and Ctrl-C loses nothing (the rows in flight finish first; a second Ctrl-C quits at once).
 */
import fs from "node:fs";
import path from "node:path";
import cliProgress from "cli-progress";
import { Command, InvalidArgumentError, Option } from "commander";
import { EvalOptionsError } from "../../core/eval-errors.js";
import type { Strictness } from "../../core/labels.js";
import type { Policy } from "../../core/policy/types.js";
import { resolveEngineOptions } from "../../engine/engine-options.js";
import { GenGuard } from "../../guard/gen-guard.js";
import { StreamGuard } from "../../guard/stream-guard.js";
import { loadPolicy } from "../../guard/policy/load.js";
import { bundledDataDir, PUBLIC_DATASETS, resolveData, type PublicDataset } from "../../eval/datasets.js";
import { DATA_FORMATS, detectFormat, type DataFormat, type EvalTask } from "../../eval/formats.js";
import { rebuildOutputs, readMetrics, runEvalJob } from "../../eval/job.js";
import { modelIdentity } from "../../eval/model-identity.js";
import { compareHtml, compareText } from "../../eval/report.js";
import { modesOf, type EvalGuard, type RunProgress, type StreamScoring } from "../../eval/runner.js";
import type { EvalConfig, EvalMetrics } from "../../eval/summary.js";
import type { ThresholdTarget } from "../../eval/curves.js";
import {
  addEngineOptions,
  conversionProgress,
  engineOptionsOf,
  requireModel,
  type EngineCliOptions,
} from "../engine-options.js";

interface EvalCliOptions extends EngineCliOptions {
  data?: string;
  format?: DataFormat;
  task?: EvalTask;
  guard?: "gen" | "stream";
  limit?: number;
  policy?: string;
  mode: Strictness | "both";
  out?: string;
  fresh?: boolean;
  genMode: "fast" | "reference";
  rule: "official" | "report";
  streamScoring: StreamScoring;
  targetPrecision: number[];
  targetRecall: number[];
  thresholdAction: "flag" | "block";
  toxicityThreshold?: number;
  partialRefusal: "yes" | "no" | "skip";
  hashModel?: boolean;
  threads?: number;
  sequences?: number;
  json?: boolean;
  progressInterval: number;
}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError("expected a positive integer");
  return n;
}

function probability(value: string, previous: number[] = []): number[] {
  const n = Number(value);
  if (!(n > 0 && n <= 1)) throw new InvalidArgumentError("expected a number in (0, 1]");
  return [...previous, n];
}

function targetsOf(o: { targetPrecision: number[]; targetRecall: number[] }): ThresholdTarget[] {
  return [
    ...o.targetPrecision.map((precision) => ({ precision })),
    ...o.targetRecall.map((recall) => ({ recall })),
  ];
}

const fmt4 = (n: number) => n.toFixed(4);

/** The summary printed after a run (stdout). */
export function metricsText(m: EvalMetrics, outDir?: string): string {
  const lines: string[] = [];
  if (m.warning) lines.push(`!! ${m.model.synthetic} weights: ${m.warning}`);
  lines.push(
    `${m.data.name ?? m.data.spec}: task ${m.config.task} (${m.config.guard}), ${m.rows.evaluated} rows evaluated (${m.rows.labelled} labelled) of ${m.rows.inScope}; ${m.rows.bad} bad rows, ${m.rows.errors} guard errors${m.rows.pending ? `, ${m.rows.pending} pending` : ""}`,
  );
  const modes = Object.entries(m.classification);
  if (m.rows.labelled > 0 && modes.length > 0) {
    lines.push("", "mode     precision  recall     F1         TP    FP    FN    TN");
    for (const [mode, c] of modes) {
      lines.push(
        `${mode.padEnd(8)} ${fmt4(c.precision).padEnd(10)} ${fmt4(c.recall).padEnd(10)} ${fmt4(c.f1).padEnd(10)} ${String(c.tp).padStart(5)} ${String(c.fp).padStart(5)} ${String(c.fn).padStart(5)} ${String(c.tn).padStart(5)}`,
      );
    }
  }
  if (m.refusal) {
    lines.push(
      "",
      `refusal: precision ${fmt4(m.refusal.precision)}, recall ${fmt4(m.refusal.recall)}, F1 ${fmt4(m.refusal.f1)} (TP ${m.refusal.tp}, FP ${m.refusal.fp}, FN ${m.refusal.fn}, TN ${m.refusal.tn})`,
    );
  }
  if (m.latency) {
    const l = m.latency;
    lines.push(
      "",
      `stream latency (${l.samples} unsafe answers with a span; scoring ${l.scoring}, rule ${l.rule}): exact hit ${(100 * l.exactHitRate).toFixed(1)}%, within 128 tokens ${(100 * l.within128Rate).toFixed(1)}%`,
      "  " +
        Object.entries(l.bins)
          .map(([b, n]) => `${b} ${n}`)
          .join(", "),
    );
  }
  for (const t of m.thresholds ?? []) lines.push("", `# ${t.mode}, ${t.score}:`, t.yaml.trimEnd());
  for (const u of m.unreachedTargets ?? []) {
    lines.push("", `no threshold reaches ${JSON.stringify(u.target)} (${u.mode}, ${u.score}) on this data`);
  }
  lines.push(
    "",
    `throughput: ${m.throughput.rowsPerSecond.toFixed(2)} rows/s, ${m.throughput.tokensPerSecond.toFixed(0)} tokens/s (${m.throughput.concurrency} at a time)`,
  );
  if (outDir)
    lines.push(`wrote ${path.join(outDir, "metrics.json")} and ${path.join(outDir, "report.html")}`);
  return lines.join("\n") + "\n";
}

function formatEta(seconds: number): string {
  if (!Number.isFinite(seconds)) return "?";
  const s = Math.round(seconds);
  return s >= 3600
    ? `${Math.floor(s / 3600)}h${Math.floor((s % 3600) / 60)}m`
    : s >= 60
      ? `${Math.floor(s / 60)}m${s % 60}s`
      : `${s}s`;
}

/** Progress on stderr: a bar with rate and ETA on a terminal, a plain line every `intervalS` seconds otherwise. */
function progressReporter(enabled: boolean, intervalS: number) {
  const started = performance.now();
  let first: RunProgress | undefined;
  let last: RunProgress | undefined;
  let lastLine = -Infinity;
  const tty = process.stderr.isTTY === true;
  const bar = tty
    ? new cliProgress.SingleBar(
        {
          format:
            "eval [{bar}] {value}/{total} rows | {rate} rows/s | ETA {eta_formatted} | {errors} errors, {bad} bad rows",
          hideCursor: true,
          stream: process.stderr,
          etaBuffer: 50,
        },
        cliProgress.Presets.shades_classic,
      )
    : undefined;
  const rate = (p: RunProgress) =>
    (p.done - (first?.done ?? 0)) / Math.max(1e-9, (performance.now() - started) / 1000);
  const line = (p: RunProgress) => {
    const r = rate(p);
    return `eval: ${p.done}/${p.total} rows (${((100 * p.done) / Math.max(1, p.total)).toFixed(1)}%), ${r.toFixed(2)} rows/s, ETA ${formatEta((p.total - p.done) / r)}, ${p.errors} errors, ${p.badRows} bad rows`;
  };
  return {
    update(p: RunProgress) {
      if (!enabled) return;
      first ??= p;
      last = p;
      if (bar) {
        if (!bar.isActive) bar.start(p.total, p.done, { rate: "0.00", errors: 0, bad: p.badRows });
        bar.update(p.done, { rate: rate(p).toFixed(2), errors: p.errors, bad: p.badRows });
      } else if (performance.now() - lastLine >= intervalS * 1000) {
        lastLine = performance.now();
        process.stderr.write(line(p) + "\n");
      }
    },
    stop() {
      if (!enabled) return;
      bar?.stop();
      if (!bar && last) process.stderr.write(line(last) + "\n");
    },
    note(text: string) {
      if (bar?.isActive) process.stderr.write("\n");
      process.stderr.write(text);
    },
  };
}

async function loadPolicyFile(file: string | undefined): Promise<Policy | undefined> {
  return file === undefined ? undefined : (await loadPolicy(file)).policy;
}

async function runEval(options: EvalCliOptions): Promise<void> {
  if (!options.data)
    throw new EvalOptionsError(
      "--data",
      "--data is required: a file, or the name of a public data set (" +
        Object.keys(PUBLIC_DATASETS).join(", ") +
        ")",
    );
  const data = resolveData(options.data);
  const format = options.format ?? data.format ?? (await detectFormat(data.file));
  const task: EvalTask =
    options.task ??
    (data.name ? PUBLIC_DATASETS[data.name].task : format === "qwen3guardtest" ? "stream" : "prompt");
  const guardKind = options.guard ?? (task === "stream" ? "stream" : "gen");
  if (task === "stream" && guardKind !== "stream")
    throw new EvalOptionsError("--guard", "--task stream needs a Stream model (--guard stream)");
  if (options.genMode === "reference" && guardKind !== "gen")
    throw new EvalOptionsError("--gen-mode", "--gen-mode applies to Gen models only");
  const modes = modesOf(options.mode);
  const targets = targetsOf(options);
  const policy = await loadPolicyFile(options.policy);
  const config: EvalConfig = {
    task,
    guard: guardKind,
    genMode: options.genMode,
    rule: options.rule,
    streamScoring: options.streamScoring,
    format,
    ...(format === "rtp-lx" ? { toxicityThreshold: options.toxicityThreshold ?? 3 } : {}),
    ...(format === "xstest-completions" ? { partialRefusal: options.partialRefusal } : {}),
    ...(options.limit !== undefined ? { limit: options.limit } : {}),
    modes,
    ...(options.policy ? { policy: options.policy } : {}),
    targets,
    thresholdAction: options.thresholdAction,
  };
  const outDir = path.resolve(
    options.out ??
      path.join(
        "qwen3guard-eval",
        `${data.name ?? path.basename(data.file).replace(/\..*$/, "")}-${task}-${guardKind}`,
      ),
  );
  const modelSpec = requireModel(options, guardKind);
  const engine = {
    ...engineOptionsOf(options),
    ...(options.threads ? { threads: options.threads } : {}),
    ...(options.sequences ? { sequences: options.sequences } : {}),
  };
  const bar = conversionProgress(options.progress);
  let guard: EvalGuard;
  let concurrency: number;
  let synthetic: string | undefined;
  if (guardKind === "gen") {
    const g = await GenGuard.load({
      model: modelSpec,
      ...engine,
      onConvertProgress: bar.onConvertProgress,
    }).finally(() => bar.stop());
    guard = { kind: "gen", guard: g, mode: options.genMode };
    concurrency = resolveEngineOptions(engine).sequences;
    synthetic = g.info.synthetic;
  } else {
    const g = await StreamGuard.load({
      model: modelSpec,
      ...engine,
      rule: options.rule,
      onConvertProgress: bar.onConvertProgress,
    }).finally(() => bar.stop());
    guard = { kind: "stream", guard: g, rule: options.rule, scoring: options.streamScoring };
    concurrency = g.info.sequences;
    synthetic = g.info.synthetic;
  }
  const controller = new AbortController();
  const progress = progressReporter(options.progress, options.progressInterval);
  let interrupts = 0;
  const onSigint = () => {
    interrupts++;
    if (interrupts > 1) process.exit(130);
    controller.abort();
    progress.note(
      "interrupted: finishing the rows in flight and writing the figures so far (Ctrl-C again to quit now)\n",
    );
  };
  process.on("SIGINT", onSigint);
  try {
    if (synthetic) {
      process.stderr.write(
        `warning: this is a synthetic model (${synthetic} weights): its verdicts mean nothing about safety — figures mean nothing about accuracy\n`,
      );
    }
    const result = await runEvalJob({
      guard,
      model: modelIdentity(modelSpec, {
        ...(synthetic ? { synthetic } : {}),
        hash: options.hashModel === true,
      }),
      dataSpec: options.data,
      data,
      format,
      config,
      outDir,
      fresh: options.fresh === true,
      ...(policy ? { policy } : {}),
      concurrency,
      signal: controller.signal,
      onProgress: (p) => progress.update(p),
      onBadRow: (line, message) =>
        progress.note(`${path.basename(data.file)}:${line}: bad row, skipped: ${message}\n`),
      onRowError: (line, message) =>
        progress.note(`${path.basename(data.file)}:${line}: the guard failed: ${message}\n`),
    });
    progress.stop();
    process.stdout.write(
      options.json ? JSON.stringify(result.metrics) + "\n" : metricsText(result.metrics, outDir),
    );
    if (result.run.interrupted) {
      process.stderr.write(
        `interrupted: ${result.metrics.rows.pending} rows left; run the same command again to go on\n`,
      );
      process.exitCode = 130;
    } else if (result.run.badRows.length > 0 || result.run.errors > 0) {
      process.exitCode = 2;
    }
  } finally {
    process.off("SIGINT", onSigint);
    await guard.guard.close();
  }
}

export function registerEvalCommand(program: Command): void {
  const command = program
    .command("eval")
    .description("measure a guard on a labelled data set: metrics.json, report.html (docs/evaluation.md)")
    .option(
      "--data <file|name>",
      `a data file, or a public set read from data/datasets of a clone: ${Object.keys(PUBLIC_DATASETS).join(", ")}`,
    )
    .addOption(
      new Option("--format <format>", "the data format (default: from the name or the file)").choices([
        ...DATA_FORMATS,
      ]),
    )
    .addOption(
      new Option("--task <task>", "what is judged (default: the data set's)").choices([
        "prompt",
        "response",
        "stream",
      ]),
    )
    .addOption(
      new Option("--guard <kind>", "the model kind (default: stream for --task stream, else gen)").choices([
        "gen",
        "stream",
      ]),
    )
    .option("--limit <n>", "only the first N rows of the file", positiveInt)
    .option("--policy <file>", "also score a policy's decisions (positive = block)")
    .addOption(
      new Option("--mode <mode>", "which reading of Controversial to report")
        .choices(["strict", "loose", "both"])
        .default("both"),
    )
    .option("--out <dir>", "output folder (resumed when it holds this run)")
    .option("--fresh", "discard what --out holds and start over")
    .addOption(new Option("--gen-mode <mode>", "Gen decoding").choices(["fast", "reference"]).default("fast"))
    .addOption(
      new Option("--rule <rule>", "Stream pair rule").choices(["official", "report"]).default("official"),
    )
    .addOption(
      new Option(
        "--stream-scoring <positions>",
        "Stream positions scored: the answer's tokens, or also <|im_end|> and newline (official script)",
      )
        .choices(["answer", "official"])
        .default("answer"),
    )
    .option(
      "--target-precision <p>",
      "suggest the threshold that reaches this precision (repeatable)",
      probability,
      [],
    )
    .option(
      "--target-recall <r>",
      "suggest the threshold that reaches this recall (repeatable)",
      probability,
      [],
    )
    .addOption(
      new Option("--threshold-action <action>", "action of the suggested thresholds")
        .choices(["flag", "block"])
        .default("block"),
    )
    .option(
      "--toxicity-threshold <t>",
      "rtp-lx: unsafe when toxicity (1-5) is at least this (default 3)",
      Number,
    )
    .addOption(
      new Option("--partial-refusal <as>", "xstest-completions: a partial refusal counts as")
        .choices(["yes", "no", "skip"])
        .default("yes"),
    )
    .option("--hash-model", "record the SHA-256 of the model files (default: size and modification time)")
    .option("--threads <n>", "compute threads", positiveInt)
    .option("--sequences <n>", "rows judged at once (engine sequences)", positiveInt)
    .option("--json", "print metrics.json instead of the summary")
    .option(
      "--progress-interval <seconds>",
      "seconds between progress lines when stderr is not a terminal",
      Number,
      10,
    );
  addEngineOptions(command);
  // `eval report DIR --json`: options after a subcommand are the subcommand's
  command.enablePositionalOptions();
  command.action(async (options: EvalCliOptions) => {
    if (
      options.toxicityThreshold !== undefined &&
      !(options.toxicityThreshold >= 1 && options.toxicityThreshold <= 5)
    ) {
      throw new EvalOptionsError("--toxicity-threshold", "--toxicity-threshold must be a number in [1, 5]");
    }
    await runEval(options);
  });

  command
    .command("datasets")
    .description(
      "list the public data sets --data knows by name, where to get each, and whether this clone holds it",
    )
    .action(() => {
      const dir = bundledDataDir();
      for (const [name, set] of Object.entries(PUBLIC_DATASETS) as [string, PublicDataset][]) {
        const here = set.file !== undefined && fs.existsSync(path.join(dir, set.file));
        process.stdout.write(
          `${name}\n  ${set.description}\n  task ${set.task}, format ${set.format}, ${set.licence}: ${set.url}\n  ${
            here
              ? `in ${path.join(dir, set.file!)}`
              : "not in this installation: download it and pass --data FILE"
          }\n`,
        );
      }
    });

  command
    .command("compare")
    .description("put runs side by side (their --out folders)")
    .argument("<dirs...>", "two or more --out folders of eval runs")
    .option("--html <file>", "also write the comparison as an HTML page")
    .action((dirs: string[], o: { html?: string }) => {
      if (dirs.length < 2) throw new EvalOptionsError("compare", "compare needs at least two run folders");
      const runs = dirs.map((dir) => ({ dir, metrics: readMetrics(dir) }));
      process.stdout.write(compareText(runs));
      if (o.html) {
        fs.writeFileSync(o.html, compareHtml(runs));
        process.stderr.write(`wrote ${o.html}\n`);
      }
    });

  command
    .command("report")
    .description("recompute metrics.json and report.html of a run from its predictions (no model needed)")
    .argument("<dir>", "the --out folder of an eval run")
    .option("--policy <file>", "score this policy's decisions")
    .addOption(
      new Option("--mode <mode>", "which reading of Controversial to report").choices([
        "strict",
        "loose",
        "both",
      ]),
    )
    .option(
      "--target-precision <p>",
      "suggest the threshold that reaches this precision (repeatable)",
      probability,
      [],
    )
    .option(
      "--target-recall <r>",
      "suggest the threshold that reaches this recall (repeatable)",
      probability,
      [],
    )
    .option("--json", "print metrics.json instead of the summary")
    .action(
      async (
        dir: string,
        o: {
          policy?: string;
          mode?: Strictness | "both";
          targetPrecision: number[];
          targetRecall: number[];
          json?: boolean;
        },
      ) => {
        const policyFile = o.policy ?? readMetrics(dir).config.policy;
        const policy = await loadPolicyFile(policyFile);
        const targets = targetsOf(o);
        const metrics = rebuildOutputs(dir, {
          ...(policy ? { policy, policyFile: policyFile! } : {}),
          ...(o.mode ? { modes: modesOf(o.mode) } : {}),
          ...(targets.length > 0 ? { targets } : {}),
        });
        process.stdout.write(o.json ? JSON.stringify(metrics) + "\n" : metricsText(metrics, dir));
      },
    );
}
