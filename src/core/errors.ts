/**
 * The base of every error the library throws on a path a user can reach. Each subclass has a stable `code`
 * (SCREAMING_SNAKE_CASE, never reused or renamed once released): match on `code`, not on the message, which may
 * change. The table of codes is in docs/errors.md.
 *
 * @example
 * ```ts
 * import { GenGuard, Qwen3GuardError } from "qwen3guard";
 *
 * try {
 *   await GenGuard.load({ model: "/no/such/model" });
 * } catch (error) {
 *   if (error instanceof Qwen3GuardError) console.error(error.code, error.message); // MODEL_NOT_FOUND ...
 *   else throw error;
 * }
 * ```
 */
export class Qwen3GuardError extends Error {
  /** Stable machine-readable identifier of the error kind (see docs/errors.md). */
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/**
 * Whether `error` is one of the library's typed errors (optionally with a given code).
 *
 * @example
 * ```ts
 * import { isQwen3GuardError } from "qwen3guard";
 *
 * const error: unknown = new Error("plain");
 * isQwen3GuardError(error); // false
 * ```
 */
export function isQwen3GuardError(error: unknown, code?: string): error is Qwen3GuardError {
  return error instanceof Qwen3GuardError && (code === undefined || error.code === code);
}
