/**
 * One evaluation run in an output folder: check that the folder holds nothing from another configuration, read
 * the rows, judge those not done yet, and write metrics.json, report.html and bad-rows.jsonl.
 *
 *   DIR/run.json          configuration, model and data identity, the sessions that ran (wall time), the scope
 *   DIR/predictions.jsonl one line per judged row, appended as it is judged
 *   DIR/bad-rows.jsonl    rows of the file that could not be read, with their line
 *   DIR/metrics.json      every figure (src/eval/summary.ts)
 *   DIR/report.html       the same as one self-contained page
 */
import fs from "node:fs";
import path from "node:path";
import { EvalResumeError, EvalRunNotFoundError } from "../core/eval-errors.js";
import type { Policy } from "../core/policy/types.js";
import type { ResolvedData } from "./datasets.js";
import { readRows, type DataFormat, type ReadOptions } from "./formats.js";
import { sameModel, type ModelIdentity } from "./model-identity.js";
import { readPredictions } from "./predictions.js";
import { renderReport } from "./report.js";
import { runEvaluation, type EvalGuard, type RunProgress, type RunResult } from "./runner.js";
import {
  PREDICTION_SETTINGS,
  summarize,
  type DataIdentity,
  type EvalConfig,
  type EvalMetrics,
} from "./summary.js";

export const RUN_FILES = {
  run: "run.json",
  predictions: "predictions.jsonl",
  badRows: "bad-rows.jsonl",
  metrics: "metrics.json",
  report: "report.html",
} as const;

interface RunState {
  config: EvalConfig;
  model: ModelIdentity;
  data: DataIdentity;
  sessions: { startedAt: string; seconds: number; evaluated: number; interrupted: boolean }[];
  scope: string[];
  badRows: number;
  concurrency: number;
}

export interface EvalJobOptions {
  guard: EvalGuard;
  model: ModelIdentity;
  /** `--data` as given, and what it resolved to. */
  dataSpec: string;
  data: ResolvedData;
  format: DataFormat;
  config: EvalConfig;
  outDir: string;
  /** Discard what the folder holds instead of resuming. */
  fresh?: boolean;
  policy?: Policy;
  concurrency: number;
  signal?: AbortSignal;
  onProgress?: (p: RunProgress) => void;
  onBadRow?: (line: number, message: string) => void;
  onRowError?: (line: number, message: string) => void;
}

export interface EvalJobResult {
  metrics: EvalMetrics;
  run: RunResult;
  files: { metrics: string; report: string; predictions: string; badRows: string };
}

function dataIdentity(spec: string, data: ResolvedData): DataIdentity {
  const st = fs.statSync(data.file);
  return {
    spec,
    file: data.file,
    ...(data.name ? { name: data.name } : {}),
    bytes: st.size,
    mtimeMs: Math.round(st.mtimeMs),
  };
}

function differences(
  before: RunState,
  now: Omit<RunState, "sessions" | "scope" | "badRows" | "concurrency">,
): string[] {
  const out: string[] = [];
  for (const key of PREDICTION_SETTINGS) {
    const a = before.config[key];
    const b = now.config[key];
    if (JSON.stringify(a) !== JSON.stringify(b))
      out.push(`${key}: ${JSON.stringify(a)} → ${JSON.stringify(b)}`);
  }
  if (!sameModel(before.model, now.model))
    out.push(
      `model: ${before.model.path ?? before.model.spec} (files) → ${now.model.path ?? now.model.spec}`,
    );
  const d0 = before.data;
  const d1 = now.data;
  if (d0.file !== d1.file || d0.bytes !== d1.bytes || d0.mtimeMs !== d1.mtimeMs)
    out.push(`data: ${d0.file} → ${d1.file} (or the file changed)`);
  return out;
}

function readState(dir: string): RunState | undefined {
  const file = path.join(dir, RUN_FILES.run);
  if (!fs.existsSync(file)) return undefined;
  return JSON.parse(fs.readFileSync(file, "utf8")) as RunState;
}

function writeJson(file: string, value: unknown): void {
  const tmp = `${file}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(value, null, 2) + "\n");
  fs.renameSync(tmp, file);
}

/** Write metrics.json and report.html from a folder's run state and predictions. */
function writeOutputs(dir: string, state: RunState, policy: Policy | undefined): EvalMetrics {
  const all = readPredictions(path.join(dir, RUN_FILES.predictions));
  const predictions = state.scope.flatMap((k) => {
    const p = all.get(k);
    return p ? [p] : [];
  });
  const metrics = summarize({
    config: state.config,
    model: state.model,
    data: state.data,
    predictions,
    scope: state.scope.length,
    badRows: state.badRows,
    ...(policy ? { policy } : {}),
    seconds: state.sessions.reduce((s, x) => s + x.seconds, 0),
    concurrency: state.concurrency,
  });
  writeJson(path.join(dir, RUN_FILES.metrics), metrics);
  fs.writeFileSync(path.join(dir, RUN_FILES.report), renderReport(metrics));
  return metrics;
}

/** Run (or resume) an evaluation into `outDir`. */
export async function runEvalJob(o: EvalJobOptions): Promise<EvalJobResult> {
  fs.mkdirSync(o.outDir, { recursive: true });
  const files = {
    metrics: path.join(o.outDir, RUN_FILES.metrics),
    report: path.join(o.outDir, RUN_FILES.report),
    predictions: path.join(o.outDir, RUN_FILES.predictions),
    badRows: path.join(o.outDir, RUN_FILES.badRows),
  };
  const now = { config: o.config, model: o.model, data: dataIdentity(o.dataSpec, o.data) };
  let before = readState(o.outDir);
  if (o.fresh) {
    for (const f of Object.values(RUN_FILES)) fs.rmSync(path.join(o.outDir, f), { force: true });
    before = undefined;
  } else if (before) {
    const diff = differences(before, now);
    if (diff.length > 0) throw new EvalResumeError(o.outDir, diff);
  } else if (fs.existsSync(files.predictions)) {
    throw new EvalResumeError(o.outDir, [
      "predictions.jsonl without run.json: not a folder this command wrote",
    ]);
  }
  const readOptions: ReadOptions = {
    task: o.config.task,
    ...(o.config.limit !== undefined ? { limit: o.config.limit } : {}),
    ...(o.config.toxicityThreshold !== undefined ? { toxicityThreshold: o.config.toxicityThreshold } : {}),
    ...(o.config.partialRefusal !== undefined ? { partialRefusal: o.config.partialRefusal } : {}),
  };
  const rows = [];
  for await (const r of readRows(o.data.file, o.format, readOptions)) rows.push(r);
  const startedAt = new Date().toISOString();
  const state: RunState = {
    ...now,
    sessions: before?.sessions ?? [],
    scope: [],
    badRows: 0,
    concurrency: o.concurrency,
  };
  writeJson(path.join(o.outDir, RUN_FILES.run), state);
  const run = await runEvaluation({
    guard: o.guard,
    task: o.config.task,
    rows,
    predictionsFile: files.predictions,
    concurrency: o.concurrency,
    ...(o.signal ? { signal: o.signal } : {}),
    ...(o.onProgress ? { onProgress: o.onProgress } : {}),
    ...(o.onBadRow ? { onBadRow: o.onBadRow } : {}),
    onRowError: (row, message) => o.onRowError?.(row.line, message),
  });
  state.sessions.push({
    startedAt,
    seconds: run.seconds,
    evaluated: run.evaluated,
    interrupted: run.interrupted,
  });
  state.scope = run.scope;
  state.badRows = run.badRows.length;
  writeJson(path.join(o.outDir, RUN_FILES.run), state);
  fs.writeFileSync(files.badRows, run.badRows.map((b) => JSON.stringify(b) + "\n").join(""));
  const metrics = writeOutputs(o.outDir, state, o.policy);
  return { metrics, run, files };
}

/** Recompute metrics.json and report.html of a folder from its predictions (e.g. with another policy). */
export function rebuildOutputs(
  dir: string,
  changes: {
    policy?: Policy;
    policyFile?: string;
    modes?: EvalConfig["modes"];
    targets?: EvalConfig["targets"];
  } = {},
): EvalMetrics {
  const state = readState(dir);
  if (!state)
    throw new EvalRunNotFoundError(
      dir,
      `${dir} holds no run (no ${RUN_FILES.run}): run qwen3guard eval --out ${dir} first`,
    );
  if (changes.policyFile !== undefined) state.config.policy = changes.policyFile;
  if (changes.modes) state.config.modes = changes.modes;
  if (changes.targets) state.config.targets = changes.targets;
  return writeOutputs(dir, state, changes.policy);
}

/** The metrics.json of a finished run. */
export function readMetrics(dir: string): EvalMetrics {
  const file = path.join(dir, RUN_FILES.metrics);
  if (!fs.existsSync(file))
    throw new EvalRunNotFoundError(
      dir,
      `${dir} holds no ${RUN_FILES.metrics}: not the --out folder of a qwen3guard eval run`,
    );
  return JSON.parse(fs.readFileSync(file, "utf8")) as EvalMetrics;
}
