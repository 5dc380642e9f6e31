/**
 * Typed errors of the Hugging Face hub client. Every message says what happened and what the user can do.
 */
import { Qwen3GuardError } from "../../core/errors.js";

/**
 * An error of the Hugging Face hub client (`HUB_*` codes), met when a guard loads a hub name (`allowDownload`,
 * `offline`, `endpoint`, `token` options) or `qwen3guard pull` runs: `reason` lets callers branch without parsing
 * messages; `code` is the stable code of the reason. Base class of HubUnreachableError, HubHttpError and
 * ChecksumMismatchError.
 *
 * @example
 * ```ts
 * import { GenGuard, HubError } from "qwen3guard";
 *
 * try {
 *   await GenGuard.load({ model: "Qwen/Qwen3Guard-Gen-0.6B", allowDownload: true, offline: true });
 * } catch (error) {
 *   if (error instanceof HubError) console.log(error.code, error.reason); // HUB_OFFLINE_NOT_CACHED offline-not-cached
 * }
 * ```
 */
export class HubError extends Qwen3GuardError {
  constructor(
    readonly reason: HubErrorReason,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(HUB_CODES[reason], message, options);
  }
}

/**
 * Why a hub operation failed (`HubError.reason`); each has its code (`bad-name`: HUB_BAD_NAME, `unreachable`:
 * HUB_UNREACHABLE, `http`: HUB_HTTP_ERROR, `offline-not-cached`: HUB_OFFLINE_NOT_CACHED...: docs/errors.md).
 *
 * @example
 * ```ts
 * import type { HubErrorReason } from "qwen3guard";
 *
 * const retryable: HubErrorReason[] = ["unreachable", "incomplete", "checksum"];
 * console.log(retryable.includes("http")); // false
 * ```
 */
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

/**
 * The hub (or the mirror in `endpoint` / HF_ENDPOINT) could not be reached at all: DNS, refused, reset, timeout.
 * `endpoint` says which. Code `HUB_UNREACHABLE`.
 *
 * @example
 * ```ts
 * import { GenGuard, HubUnreachableError } from "qwen3guard";
 *
 * try {
 *   await GenGuard.load({ model: "Qwen/Qwen3Guard-Gen-0.6B", allowDownload: true, endpoint: "http://127.0.0.1:9" });
 * } catch (error) {
 *   if (error instanceof HubUnreachableError) console.log(error.code, error.endpoint); // HUB_UNREACHABLE http://127.0.0.1:9
 * }
 * ```
 */
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

/**
 * The hub answered with an HTTP error (repository missing: 404; gated or a bad token: 401/403); `status` and `url`
 * say which. Code `HUB_HTTP_ERROR`.
 *
 * @example
 * ```ts
 * import { GenGuard, HubHttpError } from "qwen3guard";
 *
 * async function loadPulling(model: string): Promise<GenGuard> {
 *   try {
 *     return await GenGuard.load({ model, allowDownload: true });
 *   } catch (error) {
 *     if (error instanceof HubHttpError && (error.status === 401 || error.status === 403))
 *       throw new Error(`${model} needs an access token: set HF_TOKEN (${error.url})`, { cause: error });
 *     throw error;
 *   }
 * }
 * console.log(typeof loadPulling);
 * ```
 */
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

/**
 * A downloaded file does not match the checksum the hub published for it; the downloaded data was deleted. Pull
 * again; if it keeps failing, the mirror or proxy in between serves altered files. Code `HUB_CHECKSUM_MISMATCH`.
 *
 * @example
 * ```ts
 * import { ChecksumMismatchError } from "qwen3guard";
 *
 * const error = new ChecksumMismatchError("model.safetensors", "sha256", "9f86d0…", "e3b0c4…");
 * console.log(error.code, error.file, error.algorithm); // HUB_CHECKSUM_MISMATCH model.safetensors sha256
 * ```
 */
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
