/**
 * Errors of the evaluation harness (`qwen3guard eval`, `qwen3guard reward`, `src/eval`) and of the reward
 * functions. Pure classes: the harness is a surface, but its errors are exported from the package entry with the
 * others (docs/errors.md).
 */
import { Qwen3GuardError } from "./errors.js";

/** Why a data set cannot be read at all (a bad row is never an error of the run: it is counted and reported). */
export type EvalDataErrorCode = "EVAL_DATA_NOT_FOUND" | "EVAL_DATA_INVALID";

/** A data set cannot be found or read (unknown name, missing file, unknown format, missing columns). */
export class EvalDataError extends Qwen3GuardError {
  /** The file (or name) that was asked for. */
  readonly file: string;

  constructor(code: EvalDataErrorCode, file: string, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.file = file;
  }
}

/** One row of a data set cannot be evaluated (reported with its line and counted; the run goes on). */
export class EvalRowError extends Qwen3GuardError {
  /** 1-based line of the file (JSONL, CSV record) or row number (Parquet). */
  readonly line: number;

  constructor(line: number, message: string, options?: { cause?: unknown }) {
    super("EVAL_ROW_INVALID", message, options);
    this.line = line;
  }
}

/** Options of an evaluation or reward run that do not fit together (or a value out of range). */
export class EvalOptionsError extends Qwen3GuardError {
  /** The option at fault (CLI spelling, e.g. `--target-precision`). */
  readonly option: string;

  constructor(option: string, message: string) {
    super("EVAL_OPTIONS_INVALID", message);
    this.option = option;
  }
}

/**
 * The output folder holds a run made with a different configuration (model, data, task, options): resuming it
 * would mix predictions. Use another folder, or start over.
 */
export class EvalResumeError extends Qwen3GuardError {
  readonly dir: string;
  /** `key: before → now` for each setting that differs. */
  readonly differences: string[];

  constructor(dir: string, differences: string[]) {
    super(
      "EVAL_RESUME_MISMATCH",
      `${dir} holds a run with a different configuration (${differences.join("; ")}): pass another --out folder, or --fresh to discard it`,
    );
    this.dir = dir;
    this.differences = differences;
  }
}

/** A folder given to `eval compare` or `eval report` holds no finished run. */
export class EvalRunNotFoundError extends Qwen3GuardError {
  readonly dir: string;

  constructor(dir: string, message: string) {
    super("EVAL_RUN_NOT_FOUND", message);
    this.dir = dir;
  }
}

/** A reward function got a judgement or a helpfulness score it cannot use. */
export class RewardInputError extends Qwen3GuardError {
  constructor(message: string) {
    super("REWARD_INPUT_INVALID", message);
  }
}
