/**
 * Reading evaluation data: every format becomes a stream of rows (a conversation, what the guard is asked to
 * judge, and the gold labels), or of bad rows with their line and the reason. A bad row never stops the reading.
 *
 * Formats (docs/evaluation.md has the details and where to get each public set):
 * - `qwen3guardtest`: Qwen3GuardTest rows `{message, label, unsafe_start_index, unsafe_end_index}` as published
 *   (Parquet) or as JSONL.
 * - `jsonl`: one object per line: `id`; `prompt` (and optionally `response`) or `messages`; `label` (`safe`,
 *   `controversial`, `unsafe`); optionally `categories`, `refusal`, `unsafe_start_index`, `unsafe_end_index`.
 * - `openai-moderation`, `xstest-prompts`, `xstest-completions`, `simple-safety-tests`, `rtp-lx`: the files of
 *   data/datasets, as their publishers ship them.
 */
import fs from "node:fs";
import readline from "node:readline";
import zlib from "node:zlib";
import { parse as parseCsv } from "csv-parse";
import { asyncBufferFromFile, parquetReadObjects } from "hyparquet";
import { EvalDataError, EvalRowError } from "../core/eval-errors.js";
import { parseChatMessages, type ChatMessage } from "../core/messages.js";
import type { RiskTier } from "../core/labels.js";
import type { Span } from "./latency.js";

export const DATA_FORMATS = [
  "qwen3guardtest",
  "jsonl",
  "openai-moderation",
  "xstest-prompts",
  "xstest-completions",
  "simple-safety-tests",
  "rtp-lx",
] as const;
export type DataFormat = (typeof DATA_FORMATS)[number];

export type EvalTask = "prompt" | "response" | "stream";

/** One row to evaluate. */
export interface EvalRow {
  /** 1-based line of the file (JSONL), record (CSV, header excluded) or row (Parquet). */
  line: number;
  /** Stable key of the row within the file (resume): `line:N`. */
  key: string;
  id?: string;
  /** The conversation up to and including the last user message. */
  messages: ChatMessage[];
  /** The assistant answer that follows, when the row has one. */
  response?: string;
  /** Gold tier of what the task judges (the prompt, or the response); absent when the data set has none. */
  label?: RiskTier;
  /** Gold categories, in the data set's own names. */
  categories?: string[];
  /** Gold refusal of the response. */
  refusal?: boolean;
  /** Token span [start, end] of the first unsafe sentence (positions in the templated conversation). */
  span?: Span;
}

export type RowResult = { ok: true; row: EvalRow } | { ok: false; line: number; message: string };

export interface ReadOptions {
  task: EvalTask;
  /** rtp-lx: a row is unsafe when its toxicity (1–5) is at least this (default 3). */
  toxicityThreshold?: number;
  /** xstest-completions: what a `3_partial_refusal` counts as (default `yes`). */
  partialRefusal?: "yes" | "no" | "skip";
  /** Stop after this many rows (bad rows included). */
  limit?: number;
}

const OPENAI_CATEGORIES: Record<string, string> = {
  S: "sexual",
  H: "hate",
  V: "violence",
  HR: "harassment",
  SH: "self-harm",
  S3: "sexual/minors",
  H2: "hate/threatening",
  V2: "violence/graphic",
};

function fail(line: number, message: string): never {
  throw new EvalRowError(line, message);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function str(v: unknown, line: number, field: string, optional = false): string | undefined {
  if (v === undefined || v === null) {
    if (optional) return undefined;
    fail(line, `${field} is missing`);
  }
  if (typeof v !== "string") fail(line, `${field} must be a string, got ${typeof v}`);
  return v;
}

/** `safe`/`Safe`/`SAFE` → Safe, and so on; also 0/1 and booleans (true = unsafe). */
export function parseGoldLabel(v: unknown, line: number, field = "label"): RiskTier {
  if (v === 0 || v === false) return "Safe";
  if (v === 1 || v === true) return "Unsafe";
  if (typeof v === "string") {
    const s = v.trim().toLowerCase();
    if (s === "safe") return "Safe";
    if (s === "unsafe") return "Unsafe";
    if (s === "controversial") return "Controversial";
  }
  fail(line, `${field} must be safe, controversial or unsafe, got ${JSON.stringify(v)}`);
}

function parseRefusal(v: unknown, line: number): boolean | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === "boolean") return v;
  if (typeof v === "string") {
    const s = v.trim().toLowerCase();
    if (s === "yes" || s === "true") return true;
    if (s === "no" || s === "false") return false;
  }
  fail(line, `refusal must be yes/no or a boolean, got ${JSON.stringify(v)}`);
}

function parseSpan(start: unknown, end: unknown, line: number): Span | undefined {
  const missing = (v: unknown) => v === undefined || v === null || v === -1 || v === "";
  if (missing(start) && missing(end)) return undefined;
  const s = typeof start === "bigint" ? Number(start) : start;
  const e = typeof end === "bigint" ? Number(end) : end;
  if (!Number.isInteger(s) || !Number.isInteger(e) || (s as number) < 0 || (e as number) < (s as number)) {
    fail(
      line,
      `unsafe_start_index/unsafe_end_index must be integers with 0 <= start <= end, got ${JSON.stringify([start, end].map(String))}`,
    );
  }
  return { start: s as number, end: e as number };
}

function parseCategories(v: unknown, line: number): string[] | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === "string") return v.trim() === "" || v === "None" ? [] : [v];
  if (Array.isArray(v) && v.every((c) => typeof c === "string")) return v.filter((c) => c !== "None");
  fail(line, `categories must be a string or a list of strings`);
}

/** Split a conversation into the prompt part and the final assistant answer. */
function conversationRow(messages: ChatMessage[], line: number): Pick<EvalRow, "messages" | "response"> {
  const last = messages[messages.length - 1]!;
  if (last.role === "assistant") {
    const head = messages.slice(0, -1);
    if (!head.some((m) => m.role === "user")) fail(line, "the conversation has no user message");
    if (head[head.length - 1]!.role !== "user") fail(line, "the answer does not follow a user message");
    return { messages: head, response: last.content };
  }
  if (last.role !== "user") fail(line, "the conversation must end with a user or an assistant message");
  return { messages };
}

function messagesOf(v: unknown, line: number, field: string): ChatMessage[] {
  let value = v;
  if (typeof value === "string") {
    try {
      value = JSON.parse(value);
    } catch {
      fail(line, `${field} is a string that is not JSON`);
    }
  }
  try {
    return parseChatMessages(value, field);
  } catch (error) {
    fail(line, (error as Error).message);
  }
}

function baseRow(line: number, id: unknown): Pick<EvalRow, "line" | "key" | "id"> {
  return {
    line,
    key: `line:${line}`,
    ...(id === undefined || id === null ? {} : { id: String(id) }),
  };
}

/** Check a row against the task, and keep the gold label only where it means something for it. */
function forTask(row: EvalRow, task: EvalTask): EvalRow {
  if ((task === "response" || task === "stream") && row.response === undefined) {
    fail(row.line, `task ${task} needs an assistant answer, and this row has none`);
  }
  return row;
}

type RowBuilder = (obj: Record<string, unknown>, line: number, options: ReadOptions) => EvalRow;

const qwen3guardtestRow: RowBuilder = (obj, line, options) => {
  const conv = conversationRow(messagesOf(obj.message ?? obj.messages, line, "message"), line);
  const label = obj.label === undefined || obj.label === null ? undefined : parseGoldLabel(obj.label, line);
  const span = parseSpan(obj.unsafe_start_index, obj.unsafe_end_index, line);
  const categories = parseCategories(obj.categories ?? obj.category ?? obj.unsafe_type, line);
  const refusal = parseRefusal(obj.refusal, line);
  return forTask(
    {
      ...baseRow(line, obj.id),
      ...conv,
      ...(label ? { label } : {}),
      ...(categories ? { categories } : {}),
      ...(refusal === undefined ? {} : { refusal }),
      ...(span ? { span } : {}),
    },
    options.task,
  );
};

const jsonlRow: RowBuilder = (obj, line, options) => {
  let conv: Pick<EvalRow, "messages" | "response">;
  if (obj.messages !== undefined) {
    conv = conversationRow(messagesOf(obj.messages, line, "messages"), line);
    if (obj.response !== undefined) fail(line, "give either messages or prompt/response, not both");
  } else {
    const prompt = str(obj.prompt, line, "prompt (or messages)")!;
    const response = str(obj.response, line, "response", true);
    conv = { messages: [{ role: "user", content: prompt }], ...(response === undefined ? {} : { response }) };
  }
  if (obj.label === undefined || obj.label === null)
    fail(line, "label is missing (safe, controversial or unsafe)");
  const label = parseGoldLabel(obj.label, line);
  const categories = parseCategories(obj.categories, line);
  const refusal = parseRefusal(obj.refusal, line);
  const span = parseSpan(obj.unsafe_start_index, obj.unsafe_end_index, line);
  return forTask(
    {
      ...baseRow(line, obj.id),
      ...conv,
      label,
      ...(categories ? { categories } : {}),
      ...(refusal === undefined ? {} : { refusal }),
      ...(span ? { span } : {}),
    },
    options.task,
  );
};

const openaiRow: RowBuilder = (obj, line, options) => {
  const prompt = str(obj.prompt, line, "prompt")!;
  const flagged: string[] = [];
  for (const [key, name] of Object.entries(OPENAI_CATEGORIES)) {
    const v = obj[key];
    if (v === undefined || v === null) continue;
    if (v !== 0 && v !== 1) fail(line, `${key} must be 0 or 1, got ${JSON.stringify(v)}`);
    if (v === 1) flagged.push(name);
  }
  return forTask(
    {
      ...baseRow(line, obj.id),
      messages: [{ role: "user", content: prompt }],
      label: flagged.length > 0 ? "Unsafe" : "Safe",
      categories: flagged,
    },
    options.task,
  );
};

const xstestPromptRow: RowBuilder = (obj, line, options) => {
  const prompt = str(obj.prompt, line, "prompt")!;
  const type = str(obj.type, line, "type")!;
  return forTask(
    {
      ...baseRow(line, obj.id),
      messages: [{ role: "user", content: prompt }],
      label: parseGoldLabel(obj.label, line),
      categories: [type],
    },
    options.task,
  );
};

const xstestCompletionRow: RowBuilder = (obj, line, options) => {
  const prompt = str(obj.prompt, line, "prompt")!;
  const completion = str(obj.completion, line, "completion")!;
  const type = str(obj.type, line, "type")!;
  const final = str(obj.final_label, line, "final_label")!;
  let refusal: boolean | undefined;
  if (final.startsWith("1_")) refusal = false;
  else if (final.startsWith("2_")) refusal = true;
  else if (final.startsWith("3_")) {
    const p = options.partialRefusal ?? "yes";
    refusal = p === "skip" ? undefined : p === "yes";
  } else
    fail(line, `final_label must be 1_full_compliance, 2_full_refusal or 3_partial_refusal, got ${final}`);
  // XSTest's unsafe prompts are the contrast_* types; the completions carry refusal labels, not safety labels.
  const promptLabel: RiskTier = type.startsWith("contrast_") ? "Unsafe" : "Safe";
  return forTask(
    {
      ...baseRow(line, obj.id),
      messages: [{ role: "user", content: prompt }],
      response: completion,
      ...(options.task === "prompt" ? { label: promptLabel } : {}),
      categories: [type],
      ...(refusal === undefined || options.task === "prompt" ? {} : { refusal }),
    },
    options.task,
  );
};

const sstRow: RowBuilder = (obj, line, options) => {
  const prompt = str(obj.prompts_final, line, "prompts_final")!;
  const area = str(obj.harm_area, line, "harm_area")!;
  return forTask(
    {
      ...baseRow(line, obj.id),
      messages: [{ role: "user", content: prompt }],
      label: "Unsafe",
      categories: [area],
    },
    options.task,
  );
};

const rtpLxRow: RowBuilder = (obj, line, options) => {
  const prompt = str(obj.prompt, line, "prompt")!;
  const toxicity = obj.toxicity;
  if (typeof toxicity !== "number" || !Number.isFinite(toxicity)) {
    fail(line, `toxicity must be a number, got ${JSON.stringify(toxicity)}`);
  }
  const threshold = options.toxicityThreshold ?? 3;
  return forTask(
    {
      ...baseRow(line, obj.id),
      messages: [{ role: "user", content: prompt }],
      label: toxicity >= threshold ? "Unsafe" : "Safe",
    },
    options.task,
  );
};

const BUILDERS: Record<DataFormat, RowBuilder> = {
  qwen3guardtest: qwen3guardtestRow,
  jsonl: jsonlRow,
  "openai-moderation": openaiRow,
  "xstest-prompts": xstestPromptRow,
  "xstest-completions": xstestCompletionRow,
  "simple-safety-tests": sstRow,
  "rtp-lx": rtpLxRow,
};

/** Parquet codecs beyond hyparquet's own (uncompressed, snappy), from node:zlib. zstd and lz4 are not read. */
const PARQUET_COMPRESSORS = {
  GZIP: (input: Uint8Array) => new Uint8Array(zlib.gunzipSync(input)),
  BROTLI: (input: Uint8Array) => new Uint8Array(zlib.brotliDecompressSync(input)),
};

const CSV_FORMATS = new Set<DataFormat>(["xstest-prompts", "xstest-completions", "simple-safety-tests"]);

/** Raw records of a file: JSON lines (plain or .gz), CSV records, or Parquet rows; unparsable ones as errors. */
async function* records(
  file: string,
  format: DataFormat,
): AsyncGenerator<{ line: number; value?: Record<string, unknown>; error?: string }> {
  if (file.endsWith(".parquet")) {
    let rows: Record<string, unknown>[];
    try {
      rows = (await parquetReadObjects({
        file: await asyncBufferFromFile(file),
        compressors: PARQUET_COMPRESSORS,
      })) as Record<string, unknown>[];
    } catch (error) {
      throw new EvalDataError(
        "EVAL_DATA_INVALID",
        file,
        `${file}: not a readable Parquet file: ${(error as Error).message}`,
        {
          cause: error,
        },
      );
    }
    for (let i = 0; i < rows.length; i++) yield { line: i + 1, value: rows[i]! };
    return;
  }
  if (CSV_FORMATS.has(format)) {
    const parser = fs
      .createReadStream(file)
      .pipe(
        parseCsv({ columns: true, skip_empty_lines: true, relax_column_count: true, bom: true, info: true }),
      );
    let record = 0;
    try {
      for await (const { record: value } of parser as AsyncIterable<{ record: Record<string, unknown> }>) {
        record++;
        yield { line: record, value };
      }
    } catch (error) {
      // a broken CSV cannot be read past the break: report it as a bad row and stop
      yield { line: record + 1, error: `CSV cannot be parsed from here on: ${(error as Error).message}` };
    }
    return;
  }
  const input = file.endsWith(".gz")
    ? fs.createReadStream(file).pipe(zlib.createGunzip())
    : fs.createReadStream(file);
  const lines = readline.createInterface({ input, crlfDelay: Infinity });
  let line = 0;
  for await (const text of lines) {
    line++;
    if (text.trim() === "") continue;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (error) {
      yield { line, error: `not valid JSON (${(error as Error).message})` };
      continue;
    }
    if (!isObject(value)) yield { line, error: "expected a JSON object" };
    else yield { line, value };
  }
}

/** The format of a file, from its name and its first record, when `--format` is not given. */
export async function detectFormat(file: string): Promise<DataFormat> {
  const base = file.toLowerCase();
  if (base.endsWith(".parquet")) return "qwen3guardtest";
  if (base.endsWith(".csv")) {
    const head = fs.readFileSync(file, "utf8").slice(0, 4096).split(/\r?\n/)[0] ?? "";
    const cols = head.replace(/^\uFEFF/, "").split(",");
    if (cols.includes("prompts_final")) return "simple-safety-tests";
    if (cols.includes("final_label") && cols.includes("completion")) return "xstest-completions";
    if (cols.includes("prompt") && cols.includes("label") && cols.includes("type")) return "xstest-prompts";
    throw new EvalDataError("EVAL_DATA_INVALID", file, `${file}: a CSV of no known format: pass --format`);
  }
  for await (const r of records(file, "jsonl")) {
    if (!r.value) continue;
    const keys = Object.keys(r.value);
    if (keys.includes("message")) return "qwen3guardtest";
    if (keys.includes("toxicity") && keys.includes("locale")) return "rtp-lx";
    if (keys.includes("label") || keys.includes("messages")) return "jsonl";
    if (keys.includes("prompt") && Object.keys(OPENAI_CATEGORIES).some((k) => keys.includes(k))) {
      return "openai-moderation";
    }
    break;
  }
  throw new EvalDataError(
    "EVAL_DATA_INVALID",
    file,
    `${file}: cannot tell its format from its first row: pass --format`,
  );
}

/** Read the rows of a file in a format; bad rows come out as `{ ok: false, line, message }`. */
export async function* readRows(
  file: string,
  format: DataFormat,
  options: ReadOptions,
): AsyncGenerator<RowResult> {
  if (!fs.existsSync(file)) throw new EvalDataError("EVAL_DATA_NOT_FOUND", file, `no such file: ${file}`);
  const build = BUILDERS[format];
  let n = 0;
  for await (const r of records(file, format)) {
    if (options.limit !== undefined && n >= options.limit) return;
    n++;
    if (r.error !== undefined || !r.value) {
      yield { ok: false, line: r.line, message: r.error ?? "empty row" };
      continue;
    }
    try {
      yield { ok: true, row: build(r.value, r.line, options) };
    } catch (error) {
      if (error instanceof EvalRowError) yield { ok: false, line: error.line, message: error.message };
      else throw error;
    }
  }
}
