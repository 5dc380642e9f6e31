/**
 * Errors the command line raises itself (bad usage, unreadable input files), typed like the library's: each a
 * Qwen3GuardError with a stable code, listed in docs/errors.md ("CLI" section). How every error becomes one
 * line on stderr and an exit status is in ./report.ts.
 */
import { Qwen3GuardError } from "../core/errors.js";

/** The command line was used wrongly: a missing, conflicting or meaningless flag or argument (exit status 2). */
export class CliUsageError extends Qwen3GuardError {
  constructor(message: string) {
    super("CLI_USAGE", message);
  }
}

/**
 * A file (or stdin) named on the command line cannot be read or is not what the flag expects: not found, not
 * JSON, not a conversation (exit status 1). The message names the file.
 */
export class CliInputError extends Qwen3GuardError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("CLI_INPUT_INVALID", message, options);
  }
}
