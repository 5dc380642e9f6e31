/**
 * The public data sets the harness knows by name: where each comes from, its format, and where a clone of the
 * repository keeps a copy (`data/datasets/`; the npm package ships none). docs/evaluation.md says the same for
 * users.
 */
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { EvalDataError } from "../core/eval-errors.js";
import type { DataFormat } from "./formats.js";

export interface PublicDataset {
  /** File name in data/datasets of a clone. */
  file?: string;
  format: DataFormat;
  /** The task its labels are for. */
  task: "prompt" | "response" | "stream";
  /** Where to get it. */
  url: string;
  licence: string;
  description: string;
}

export const PUBLIC_DATASETS = {
  "openai-moderation": {
    file: "openai-moderation-eval-1680.jsonl.gz",
    format: "openai-moderation",
    task: "prompt",
    url: "https://github.com/openai/moderation-api-release",
    licence: "MIT",
    description: "OpenAI moderation evaluation set, 1,680 prompts, 8 category flags (unsafe if any is 1)",
  },
  "xstest-prompts": {
    file: "xstest-prompts.csv",
    format: "xstest-prompts",
    task: "prompt",
    url: "https://github.com/paul-rottger/exaggerated-safety",
    licence: "CC BY 4.0",
    description: "XSTest: 250 safe prompts that look unsafe and 200 unsafe contrasts (exaggerated safety)",
  },
  "xstest-completions": {
    file: "xstest-v2-completions-gpt4.csv",
    format: "xstest-completions",
    task: "response",
    url: "https://github.com/paul-rottger/exaggerated-safety",
    licence: "CC BY 4.0",
    description: "XSTest v2 GPT-4 completions with human refusal labels (refusal ground truth)",
  },
  "simple-safety-tests": {
    file: "simple-safety-tests.csv",
    format: "simple-safety-tests",
    task: "prompt",
    url: "https://github.com/bertiev/SimpleSafetyTests",
    licence: "CC BY 4.0",
    description: "SimpleSafetyTests: 100 clearly unsafe prompts in 5 harm areas",
  },
  "rtp-lx": {
    file: "rtp-lx-26-locales-sample.jsonl",
    format: "rtp-lx",
    task: "prompt",
    url: "https://github.com/microsoft/RTP-LX",
    licence: "MIT",
    description:
      "RTP-LX sample: 80 prompts in each of 26 locales with toxicity 1-5 (unsafe at --toxicity-threshold)",
  },
  qwen3guardtest: {
    format: "qwen3guardtest",
    task: "stream",
    url: "https://huggingface.co/datasets/Qwen/Qwen3GuardTest",
    licence: "CC BY-NC 4.0",
    description:
      "Qwen3GuardTest: thinking (1,059), thinking_loc (569) and response_loc (813) splits, spans of the first unsafe sentence",
  },
} as const satisfies Record<string, PublicDataset>;

export type PublicDatasetName = keyof typeof PUBLIC_DATASETS;

export function isPublicDatasetName(name: string): name is PublicDatasetName {
  return Object.hasOwn(PUBLIC_DATASETS, name);
}

/** `data/datasets` of the clone this code runs from (absent in an npm install). */
export function bundledDataDir(): string {
  // src/eval or dist/eval → the package root
  return path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..", "data", "datasets");
}

export interface ResolvedData {
  /** Absolute path of the file. */
  file: string;
  /** The public set's name when `--data` named one. */
  name?: PublicDatasetName;
  /** The format the name implies. */
  format?: DataFormat;
}

/**
 * `--data`: a path to a file, or the name of a public data set, read from `data/datasets` when this runs from a
 * clone of the repository. A name whose file is not here says where to download it.
 */
export function resolveData(spec: string, cwd: string = process.cwd()): ResolvedData {
  const asPath = path.resolve(cwd, spec);
  if (fs.existsSync(asPath)) {
    if (fs.statSync(asPath).isDirectory()) {
      throw new EvalDataError("EVAL_DATA_INVALID", spec, `${spec} is a folder: pass a data file`);
    }
    return { file: asPath };
  }
  if (isPublicDatasetName(spec)) {
    const set: PublicDataset = PUBLIC_DATASETS[spec];
    const file = set.file === undefined ? undefined : path.join(bundledDataDir(), set.file);
    if (file !== undefined && fs.existsSync(file)) return { file, name: spec, format: set.format };
    throw new EvalDataError(
      "EVAL_DATA_NOT_FOUND",
      spec,
      set.file === undefined
        ? `${spec} is not shipped (${set.licence}): download it from ${set.url} and pass --data FILE --format ${set.format}`
        : `${spec} is read from data/datasets/${set.file} of a clone of the repository, and this installation has none: download it from ${set.url} and pass --data FILE`,
    );
  }
  const names = Object.keys(PUBLIC_DATASETS).join(", ");
  throw new EvalDataError(
    "EVAL_DATA_NOT_FOUND",
    spec,
    `no such file: ${spec} (and not the name of a public data set: ${names})`,
  );
}
