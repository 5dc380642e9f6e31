/**
 * Errors of the remote engines (vLLM, SGLang, llama-server, Ollama, another qwen3guard server). Each says which
 * backend failed and how; the pool decides from `retryable` whether another attempt may help.
 */
import { Qwen3GuardError } from "../../core/errors.js";

/**
 * A remote engine answered with an error status, or could not be reached. `status` is the HTTP status (absent
 * for a network failure); `retryable` says whether the same request may succeed on a retry (connection refused
 * or reset, 408, 429, 5xx).
 */
export class RemoteEngineError extends Qwen3GuardError {
  constructor(
    /** The backend's name (see `RemoteBackend.name`). */
    readonly backend: string,
    message: string,
    readonly retryable: boolean,
    readonly status?: number,
    options?: { cause?: unknown },
  ) {
    super("REMOTE_ENGINE_FAILED", message, options);
  }
}

/** A remote engine did not answer within the pool's `timeoutMs` (retryable). */
export class RemoteTimeoutError extends Qwen3GuardError {
  readonly retryable = true;
  constructor(
    readonly backend: string,
    readonly timeoutMs: number,
  ) {
    super("REMOTE_TIMEOUT", `${backend} did not answer within ${timeoutMs} ms`);
  }
}

/** A remote engine's answer does not have the shape its documented API gives (a version we do not speak). */
export class RemoteProtocolError extends Qwen3GuardError {
  readonly retryable = false;
  constructor(
    readonly backend: string,
    message: string,
  ) {
    super("REMOTE_PROTOCOL", `${backend}: ${message}`);
  }
}

/**
 * No backend can take the request: every one is down (health checks), its circuit is open after repeated
 * failures, or the retries are spent. `attempts` lists what each attempt met.
 */
export class RemoteUnavailableError extends Qwen3GuardError {
  constructor(
    message: string,
    readonly attempts: readonly string[] = [],
    options?: { cause?: unknown },
  ) {
    super("REMOTE_UNAVAILABLE", message, options);
  }
}

/**
 * The request cannot be sent safely to any backend of the pool: the conversation holds text a string-only engine
 * (Ollama) would read as special tokens (`<|im_end|>`, `<think>`...), and no backend of the pool takes token ids.
 * See docs/scale-out.md, "Ollama and special-token text".
 */
export class RemoteInputRefusedError extends Qwen3GuardError {
  constructor(
    message: string,
    /** The special-token texts found in the conversation's content. */
    readonly tokens: readonly string[],
  ) {
    super("REMOTE_INPUT_REFUSED", message);
  }
}

/** Whether another attempt (on this or another backend) may succeed. */
export function isRetryable(error: unknown): boolean {
  return (error instanceof RemoteEngineError && error.retryable) || error instanceof RemoteTimeoutError;
}
