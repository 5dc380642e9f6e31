/**
 * Typed errors of the Hugging Face hub client. Every message says what happened and what the user can do.
 */

/** Base class: `code` lets callers branch without parsing messages. */
export class HubError extends Error {
  override readonly name: string = "HubError";
  constructor(
    readonly code: HubErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export type HubErrorCode =
  | "bad-name"
  | "bad-endpoint"
  | "unreachable"
  | "http"
  | "not-a-model"
  | "gguf-choice"
  | "checksum"
  | "incomplete"
  | "offline-not-cached";

/** Text appended to every "cannot download" message: the ways to supply a model without the hub. */
export const SUPPLY_BY_PATH_HINT =
  "download the model elsewhere and pass the folder with --model /path/to/Qwen3Guard-Gen-0.6B, " +
  "or a GGUF file with --model file.gguf, or set HF_ENDPOINT to a mirror.";

/** The hub (or the mirror in HF_ENDPOINT) could not be reached at all: DNS, refused, reset, timeout. */
export class HubUnreachableError extends HubError {
  override readonly name = "HubUnreachableError";
  constructor(
    readonly endpoint: string,
    reason: string,
    options?: { cause?: unknown },
  ) {
    super(
      "unreachable",
      `could not reach ${endpoint} (${reason}). This machine may be offline: ${SUPPLY_BY_PATH_HINT}`,
      options,
    );
  }
}

/** The hub answered with an HTTP error (repository missing, gated, bad token, …). */
export class HubHttpError extends HubError {
  override readonly name = "HubHttpError";
  constructor(
    readonly status: number,
    readonly url: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super("http", message, options);
  }
}

/** A downloaded file does not match the checksum the hub published for it; the partial file was deleted. */
export class ChecksumMismatchError extends HubError {
  override readonly name = "ChecksumMismatchError";
  constructor(
    readonly file: string,
    readonly algorithm: "sha256" | "git-sha1",
    readonly expected: string,
    readonly actual: string,
  ) {
    super(
      "checksum",
      `${file}: checksum mismatch (${algorithm} expected ${expected}, got ${actual}); ` +
        `the downloaded data was deleted. Run the pull again; if it keeps failing, the mirror or proxy ` +
        `in between is serving altered files.`,
    );
  }
}
