/**
 * Running an evaluation: each row is judged through the public guard API (GenGuard / StreamGuard), up to
 * `concurrency` rows at a time (the engine's sequences), and its prediction is appended to predictions.jsonl the
 * moment it is known. Rows already in the file are skipped; an abort (Ctrl-C) stops taking rows and waits for the
 * ones in flight, so nothing finished is lost.
 */
import type { Strictness } from "../core/labels.js";
import type { ChatMessage } from "../core/messages.js";
import { streamVerdict, type StreamRule } from "../core/stream-decision.js";
import type { GenGuard, GenMode } from "../guard/gen-guard.js";
import type { StreamGuard } from "../guard/stream-guard.js";
import type { StreamTokenVerdict } from "../guard/stream-types.js";
import type { EvalRow, EvalTask, RowResult } from "./formats.js";
import {
  charLabel,
  labelChar,
  MAX_KEPT_TEXT,
  readPredictions,
  PredictionWriter,
  type Prediction,
  type PredictionVerdict,
  type StreamTrace,
} from "./predictions.js";

/** Which Stream positions are scored: the answer's tokens (default), or also the closing `<|im_end|>` and newline as the official script does. */
export type StreamScoring = "answer" | "official";

export type EvalGuard =
  | { kind: "gen"; guard: GenGuard; mode?: GenMode }
  | { kind: "stream"; guard: StreamGuard; rule?: StreamRule; scoring?: StreamScoring };

type Judged = Pick<Prediction, "verdict" | "stream" | "tokens">;

async function judgeGen(
  g: Extract<EvalGuard, { kind: "gen" }>,
  row: EvalRow,
  task: EvalTask,
): Promise<Judged> {
  const messages: ChatMessage[] =
    task === "prompt" ? row.messages : [...row.messages, { role: "assistant", content: row.response! }];
  const v = await g.guard.moderate(messages, { mode: g.mode ?? "fast" });
  return {
    verdict: {
      tier: v.tier,
      categories: [...v.categories],
      ...(v.refusal ? { refusal: v.refusal } : {}),
      ...(v.probabilities ? { probabilities: v.probabilities } : {}),
    },
    ...(v.tokens ? { tokens: v.tokens.prompt } : {}),
  };
}

/** The `<|im_end|>` and newline ids that close a turn, read from the guard's own prompt tokenization. */
function closingIds(guard: StreamGuard): number[] {
  const ids = guard.promptIds([{ role: "user", content: "" }]); // <|im_start|> user \n <|im_end|>
  return [ids[ids.length - 1]!, ids[ids.length - 2]!];
}

async function streamAnswer(
  guard: StreamGuard,
  messages: ChatMessage[],
  input: string | number[],
): Promise<{ prefix: number; tokens: StreamTokenVerdict[] }> {
  const session = await guard.openStream(messages);
  try {
    const tokens = typeof input === "string" ? await session.push(input) : await session.pushTokens(input);
    const end = await session.end();
    return { prefix: session.answerStart, tokens: [...tokens, ...end.tokens] };
  } finally {
    await session.close();
  }
}

async function judgeStream(
  g: Extract<EvalGuard, { kind: "stream" }>,
  row: EvalRow,
  task: EvalTask,
): Promise<Judged> {
  if (task === "prompt") {
    const session = await g.guard.openStream(row.messages);
    try {
      const p = session.prompt;
      return {
        verdict: {
          tier: p.tier,
          categories: p.tier === "Safe" ? [] : [p.category],
          probabilities: p.probabilities,
        },
        tokens: p.promptTokens,
      };
    } finally {
      await session.close();
    }
  }
  let { prefix, tokens } = await streamAnswer(g.guard, row.messages, row.response!);
  const answerTokens = tokens.length;
  if (g.scoring === "official") {
    // A session takes text or ids, not both: the answer's ids (from the text pass) and the closing tokens again.
    ({ prefix, tokens } = await streamAnswer(g.guard, row.messages, [
      ...tokens.map((t) => t.token),
      ...closingIds(g.guard),
    ]));
  }
  const labels = tokens.map((t) => t.tier);
  const found = streamVerdict(labels, undefined, { rule: g.rule ?? "official" });
  const trace: StreamTrace = {
    offset: prefix,
    answerTokens,
    labels: labels.map(labelChar).join(""),
    ...(found.tier === "Safe" ? {} : { flagIndex: found.index }),
  };
  const trigger = found.tier === "Safe" ? undefined : tokens[found.index]!;
  const verdict: PredictionVerdict = {
    tier: found.tier,
    categories: trigger ? [trigger.category] : [],
    ...(trigger ? { probabilities: trigger.probabilities } : {}),
  };
  return { verdict, stream: trace, tokens: prefix + tokens.length };
}

/** Judge one row with the guard (throws what the guard throws). */
export function judgeRow(g: EvalGuard, row: EvalRow, task: EvalTask): Promise<Judged> {
  return g.kind === "gen" ? judgeGen(g, row, task) : judgeStream(g, row, task);
}

/** The whole-answer tier a Stream trace gives under a rule (recomputed from the labels). */
export function traceTier(trace: StreamTrace, rule: StreamRule = "official") {
  return streamVerdict([...trace.labels].map(charLabel), undefined, { rule });
}

export interface RunProgress {
  /** Rows finished in this run, and in all (with those already done before). */
  done: number;
  total: number;
  resumed: number;
  errors: number;
  badRows: number;
}

export interface RunOptions {
  guard: EvalGuard;
  task: EvalTask;
  rows: readonly RowResult[];
  predictionsFile: string;
  concurrency: number;
  signal?: AbortSignal;
  onProgress?: (p: RunProgress) => void;
  onBadRow?: (line: number, message: string) => void;
  onRowError?: (row: EvalRow, message: string) => void;
}

export interface RunResult {
  /** Keys of the rows in scope of this run (valid rows within --limit). */
  scope: string[];
  evaluated: number;
  resumed: number;
  errors: number;
  badRows: { line: number; message: string }[];
  interrupted: boolean;
  seconds: number;
}

function keptText(row: EvalRow, task: EvalTask): string {
  const text = task === "prompt" ? row.messages[row.messages.length - 1]!.content : row.response!;
  return text.length > MAX_KEPT_TEXT ? `${text.slice(0, MAX_KEPT_TEXT)}…` : text;
}

/** Evaluate the rows not yet in the predictions file. */
export async function runEvaluation(options: RunOptions): Promise<RunResult> {
  const started = performance.now();
  const done = readPredictions(options.predictionsFile, true);
  const badRows: RunResult["badRows"] = [];
  const todo: EvalRow[] = [];
  const scope: string[] = [];
  let resumed = 0;
  for (const r of options.rows) {
    if (!r.ok) {
      badRows.push({ line: r.line, message: r.message });
      options.onBadRow?.(r.line, r.message);
      continue;
    }
    scope.push(r.row.key);
    const before = done.get(r.row.key);
    if (before && before.error === undefined) resumed++;
    else todo.push(r.row);
  }
  const total = scope.length;
  let finished = 0;
  let errors = 0;
  const progress = () =>
    options.onProgress?.({ done: resumed + finished, total, resumed, errors, badRows: badRows.length });
  progress();
  const writer = new PredictionWriter(options.predictionsFile);
  let next = 0;
  const worker = async () => {
    while (next < todo.length && !options.signal?.aborted) {
      const row = todo[next++]!;
      const t0 = performance.now();
      const base = {
        key: row.key,
        line: row.line,
        ...(row.id !== undefined ? { id: row.id } : {}),
        gold: {
          ...(row.label ? { label: row.label } : {}),
          ...(row.categories ? { categories: row.categories } : {}),
          ...(row.refusal === undefined ? {} : { refusal: row.refusal }),
          ...(row.span ? { span: row.span } : {}),
        },
        text: keptText(row, options.task),
      };
      try {
        const judged = await judgeRow(options.guard, row, options.task);
        writer.append({ ...base, ...judged, ms: performance.now() - t0 });
      } catch (error) {
        errors++;
        const message = (error as Error).message ?? String(error);
        writer.append({ ...base, error: message, ms: performance.now() - t0 });
        options.onRowError?.(row, message);
      }
      finished++;
      progress();
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.max(1, options.concurrency) }, worker));
  } finally {
    writer.close();
  }
  return {
    scope,
    evaluated: finished,
    resumed,
    errors,
    badRows,
    interrupted: (options.signal?.aborted ?? false) && next < todo.length,
    seconds: (performance.now() - started) / 1000,
  };
}

/** The modes a run reports (`--mode both` → strict and loose). */
export function modesOf(mode: Strictness | "both"): Strictness[] {
  return mode === "both" ? ["strict", "loose"] : [mode];
}
