/**
 * Errors of the evaluation harness (`qwen3guard eval`, `qwen3guard reward`, `src/eval`) and of the reward
 * functions. Pure classes: the harness is a surface, but its errors are exported from the package entry with the
 * others (docs/errors.md).
 */
import { Qwen3GuardError } from "./errors.js";

/**
 * Why a data set cannot be read at all (a bad row is never an error of the run: it is counted and reported): the
 * codes of EvalDataError.
 *
 * @example
 * ```ts
 * import type { EvalDataErrorCode } from "qwen3guard";
 *
 * const code: EvalDataErrorCode = "EVAL_DATA_NOT_FOUND";
 * console.log(code);
 * ```
 */
export type EvalDataErrorCode = "EVAL_DATA_NOT_FOUND" | "EVAL_DATA_INVALID";

/**
 * A data set given to `qwen3guard eval` cannot be found or read (unknown name, missing file, unknown format,
 * missing columns): code `EVAL_DATA_NOT_FOUND` or `EVAL_DATA_INVALID`, and the `file` asked for. The evaluation
 * harness is a CLI surface; its errors are exported with the others so that code matching them typechecks.
 *
 * @example
 * ```ts
 * import { EvalDataError } from "qwen3guard";
 *
 * const error = new EvalDataError("EVAL_DATA_NOT_FOUND", "toxic-chat", "no data set named toxic-chat");
 * console.log(error.code, error.file); // EVAL_DATA_NOT_FOUND toxic-chat
 * ```
 */
export class EvalDataError extends Qwen3GuardError {
  /** The file (or name) that was asked for. */
  readonly file: string;

  constructor(code: EvalDataErrorCode, file: string, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.file = file;
  }
}

/**
 * One row of a data set cannot be evaluated (`qwen3guard eval` reports it with its `line` and counts it; the run
 * goes on). Code `EVAL_ROW_INVALID`.
 *
 * @example
 * ```ts
 * import { EvalRowError } from "qwen3guard";
 *
 * const error = new EvalRowError(3, 'line 3: the "label" column is empty');
 * console.log(error.code, error.line); // EVAL_ROW_INVALID 3
 * ```
 */
export class EvalRowError extends Qwen3GuardError {
  /** 1-based line of the file (JSONL, CSV record) or row number (Parquet). */
  readonly line: number;

  constructor(line: number, message: string, options?: { cause?: unknown }) {
    super("EVAL_ROW_INVALID", message, options);
    this.line = line;
  }
}

/**
 * Options of an evaluation or reward run (`qwen3guard eval`, `qwen3guard reward`) that do not fit together, or a
 * value out of range; `option` names the flag. Code `EVAL_OPTIONS_INVALID`.
 *
 * @example
 * ```ts
 * import { EvalOptionsError } from "qwen3guard";
 *
 * const error = new EvalOptionsError("--target-precision", "--target-precision must be in (0, 1]");
 * console.log(error.code, error.option); // EVAL_OPTIONS_INVALID --target-precision
 * ```
 */
export class EvalOptionsError extends Qwen3GuardError {
  /** The option at fault (CLI spelling, e.g. `--target-precision`). */
  readonly option: string;

  constructor(option: string, message: string) {
    super("EVAL_OPTIONS_INVALID", message);
    this.option = option;
  }
}

/**
 * The output folder of `qwen3guard eval` holds a run made with a different configuration (model, data, task,
 * options): resuming it would mix predictions. Use another folder, or start over (`--fresh`). Code
 * `EVAL_RESUME_MISMATCH`; `differences` lists each setting that differs.
 *
 * @example
 * ```ts
 * import { EvalResumeError } from "qwen3guard";
 *
 * const error = new EvalResumeError("runs/gen", ["model: a.gguf → b.gguf"]);
 * console.log(error.code, error.differences); // EVAL_RESUME_MISMATCH ["model: a.gguf → b.gguf"]
 * ```
 */
export class EvalResumeError extends Qwen3GuardError {
  /** The output folder. */
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

/**
 * A folder given to `qwen3guard eval compare` or `eval report` holds no finished run. Code `EVAL_RUN_NOT_FOUND`.
 *
 * @example
 * ```ts
 * import { EvalRunNotFoundError } from "qwen3guard";
 *
 * const error = new EvalRunNotFoundError("runs/empty", "runs/empty holds no finished run");
 * console.log(error.code, error.dir); // EVAL_RUN_NOT_FOUND runs/empty
 * ```
 */
export class EvalRunNotFoundError extends Qwen3GuardError {
  /** The folder given. */
  readonly dir: string;

  constructor(dir: string, message: string) {
    super("EVAL_RUN_NOT_FOUND", message);
    this.dir = dir;
  }
}

/**
 * A reward function (`rewardGuardOnly`, `rewardHybrid`, `isRolloutSafe`) got a judgement or a helpfulness score it
 * cannot use (no valid tier, a score that is not a finite number). Code `REWARD_INPUT_INVALID`.
 *
 * @example
 * ```ts
 * import { RewardInputError, rewardHybrid } from "qwen3guard";
 *
 * try {
 *   rewardHybrid({ answer: { tier: "Safe" } }, Number.NaN);
 * } catch (error) {
 *   if (error instanceof RewardInputError) console.log(error.code); // REWARD_INPUT_INVALID
 * }
 * ```
 */
export class RewardInputError extends Qwen3GuardError {
  constructor(message: string) {
    super("REWARD_INPUT_INVALID", message);
  }
}
