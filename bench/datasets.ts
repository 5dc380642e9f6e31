/** Real text from the repository's data/datasets for benchmarks (never for accuracy: the benchmark models are synthetic). */
import fs from "node:fs";
import path from "node:path";
import zlib from "node:zlib";
import { repoRoot } from "./repo-root.js";
import { parse } from "csv-parse/sync";

export const datasetsDir = path.join(repoRoot, "data", "datasets");

function datasetFile(name: string): string {
  const file = path.join(datasetsDir, name);
  if (!fs.existsSync(file)) {
    throw new Error(`${file} is missing: it is part of the repository (data/); restore it with git checkout`);
  }
  return file;
}

/** Prompts of the OpenAI moderation evaluation set (1,680 rows). */
export function openaiModerationPrompts(): string[] {
  const text = zlib
    .gunzipSync(fs.readFileSync(datasetFile("openai-moderation-eval-1680.jsonl.gz")))
    .toString("utf8");
  return text
    .split("\n")
    .filter((l) => l.trim())
    .map((l) => (JSON.parse(l) as { prompt: string }).prompt);
}

/** Prompts and GPT-4 completions of XSTest v2 (450 rows), for response moderation. */
export function xstestCompletions(): { prompt: string; completion: string }[] {
  const rows = parse(fs.readFileSync(datasetFile("xstest-v2-completions-gpt4.csv"), "utf8"), {
    columns: true,
    skip_empty_lines: true,
  }) as { prompt?: string; completion?: string }[];
  return rows
    .filter((r) => r.prompt && r.completion)
    .map((r) => ({ prompt: r.prompt!, completion: r.completion! }));
}

/** The RTP-LX sample (2,080 prompts in 26 locales). */
export function rtpLxPrompts(): string[] {
  return fs
    .readFileSync(datasetFile("rtp-lx-26-locales-sample.jsonl"), "utf8")
    .split("\n")
    .filter((l) => l.trim())
    .map((l) => (JSON.parse(l) as { prompt: string }).prompt);
}
