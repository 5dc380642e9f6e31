/**
 * Typed errors of the Hugging Face hub client. Every message says what happened and what the user can do.
 */
import { Qwen3GuardError } from "../../core/errors.js";

/** Base class: `reason` lets callers branch without parsing messages; `code` is the stable code of the reason. */
export class HubError extends Qwen3GuardError {
  constructor(
    readonly reason: HubErrorReason,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(HUB_CODES[reason], message, options);
  }
}

export type HubErrorReason =
  | "bad-name"
  | "bad-endpoint"
  | "unreachable"
  | "http"
  | "not-a-model"
  | "gguf-choice"
  | "checksum"
  | "incomplete"
  | "offline-not-cached";

const HUB_CODES: Record<HubErrorReason, string> = {
  "bad-name": "HUB_BAD_NAME",
  "bad-endpoint": "HUB_BAD_ENDPOINT",
  unreachable: "HUB_UNREACHABLE",
  http: "HUB_HTTP_ERROR",
  "not-a-model": "HUB_NOT_A_MODEL",
  "gguf-choice": "HUB_GGUF_CHOICE",
  checksum: "HUB_CHECKSUM_MISMATCH",
  incomplete: "HUB_INCOMPLETE",
  "offline-not-cached": "HUB_OFFLINE_NOT_CACHED",
};

/**
 * Text appended to every "cannot download" message: the ways to supply a model without the hub. Given the hub
 * name, the example folder is that model's (a Stream name never suggests a Gen folder).
 */
export function supplyByPathHint(repo?: string): string {
  const folder = repo === undefined ? "model-folder" : (repo.split("@")[0]!.split("/").pop() ?? repo);
  return (
    `download ${repo === undefined ? "the model" : repo.split("@")[0]} elsewhere and pass its folder with ` +
    `--model /path/to/${folder}, or a GGUF file with --model file.gguf, or set HF_ENDPOINT to a mirror.`
  );
}

export const SUPPLY_BY_PATH_HINT = supplyByPathHint();

/** The hub (or the mirror in HF_ENDPOINT) could not be reached at all: DNS, refused, reset, timeout. */
export class HubUnreachableError extends HubError {
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
