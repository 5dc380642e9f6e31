/**
 * How the command line reports: exit statuses, and every message on stderr behind one prefix
 * (`qwen3guard: error: …`, `qwen3guard: warning: …`), one line per problem.
 */
import { Command, CommanderError } from "commander";
import { PolicyError } from "../core/policy/index.js";
import { CliUsageError } from "./errors.js";

/** Exit statuses (documented in README.md and `qwen3guard --help`). */
export const EXIT = {
  /** Done; with --policy, the decision was allow or flag. */
  ok: 0,
  /** An error: a model, file or input that cannot be used, an engine failure. */
  error: 1,
  /** Bad usage: an unknown or malformed flag, a missing or conflicting argument. */
  usage: 2,
  /** `moderate`/`stream` with --policy: the decision was block. */
  blocked: 3,
  /** `moderate --batch` finished but skipped lines it could not use (each reported on stderr). */
  batchSkipped: 4,
} as const;

/** The exit statuses as `qwen3guard --help` and the README show them. */
export const EXIT_STATUS_HELP = `Exit status:
  0  success (with --policy: the decision was allow or flag)
  1  error: a model, file or input that cannot be used, an engine failure
  2  usage error: unknown or malformed flag, missing or conflicting argument
  3  blocked: \`moderate\` or \`stream\` with --policy decided block
  4  \`moderate --batch\` finished but skipped lines (each named on stderr)`;

export const PREFIX = "qwen3guard:";

/** A warning line on stderr. */
export function warn(message: string): void {
  process.stderr.write(`${PREFIX} warning: ${oneLine(message)}\n`);
}

function oneLine(text: string): string {
  return text
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "")
    .join(" ");
}

const ERRNO_TEXT: Record<string, string> = {
  ENOENT: "no such file or folder",
  EACCES: "permission denied",
  EISDIR: "is a folder, not a file",
  ENOTDIR: "not a folder",
  ENOSPC: "no space left on the device",
  EEXIST: "already exists",
};

/** The text of an error for a user: one line, or one line per problem for a policy with several. */
export function errorLines(error: unknown): string[] {
  if (error instanceof PolicyError) {
    return error.message.split("\n").filter((l) => l.trim() !== "");
  }
  const errno = error as NodeJS.ErrnoException;
  if (error instanceof Error && typeof errno.code === "string" && typeof errno.syscall === "string") {
    const what = ERRNO_TEXT[errno.code] ?? error.message;
    return [errno.path ? `${errno.path}: ${what}` : what];
  }
  return [oneLine(error instanceof Error ? error.message : String(error)) || "unknown error"];
}

/** The exit status an error ends the command with. */
export function exitStatusOf(error: unknown): number {
  if (error instanceof CliUsageError) return EXIT.usage;
  if (error instanceof CommanderError) {
    if (error.code === "commander.helpDisplayed" || error.code === "commander.version") return EXIT.ok;
    return EXIT.usage;
  }
  return EXIT.error;
}

/** Write an error to stderr (with the stack under QWEN3GUARD_DEBUG=1); returns its exit status. */
export function reportError(error: unknown, helpCommand?: string): number {
  const status = exitStatusOf(error);
  // Commander has already printed its own errors (see configureUsageErrors) and help.
  if (error instanceof CommanderError) return status;
  for (const line of errorLines(error)) process.stderr.write(`${PREFIX} error: ${line}\n`);
  if (status === EXIT.usage && helpCommand) process.stderr.write(helpHint(helpCommand));
  if (process.env.QWEN3GUARD_DEBUG && error instanceof Error && error.stack) {
    process.stderr.write(`${error.stack}\n`);
  }
  return status;
}

function helpHint(commandPath: string): string {
  return `Run '${commandPath} --help' for usage.\n`;
}

/** Commander's usage errors as ours: one line with the prefix, then a hint to run --help (not the whole help). */
export function configureUsageErrors(command: Command): void {
  command.configureOutput({
    writeErr: (s: string) => process.stderr.write(s),
    outputError: (str: string, write: (s: string) => void) => {
      const text = str
        .replace(/^error: /, "")
        .replace(/\n\(Did you mean (.*)\?\)/, " (did you mean $1?)")
        .replace(/\.\s*$/, "");
      write(`${PREFIX} error: ${oneLine(text)}\n`);
    },
  });
  command.showHelpAfterError(helpHint(commandPath(command)).trimEnd());
  for (const sub of command.commands) configureUsageErrors(sub);
}

/** `qwen3guard policy check` for the command `check`. */
export function commandPath(command: Command): string {
  const names: string[] = [];
  for (let c: Command | null = command; c; c = c.parent) names.unshift(c.name());
  return names.join(" ");
}
