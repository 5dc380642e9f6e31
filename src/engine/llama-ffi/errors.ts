/** Errors thrown by the koffi binding over libllama. */
import { Qwen3GuardError } from "../../core/errors.js";

/**
 * Base class of the errors of the project's llama.cpp binding (the `LLAMA_*` codes): what the `llama-ffi` engine
 * throws when llama.cpp refuses or fails.
 *
 * @example
 * ```ts
 * import { GenGuard, LlamaFfiError } from "qwen3guard";
 *
 * const guard = await GenGuard.load({ model: "/models/Qwen3Guard-Gen-0.6B" });
 * try {
 *   await guard.moderatePrompt("Hi");
 * } catch (error) {
 *   if (error instanceof LlamaFfiError) console.error("llama.cpp:", error.code, error.message);
 *   else throw error;
 * }
 * await guard.close();
 * ```
 */
export class LlamaFfiError extends Qwen3GuardError {}

/**
 * The binding was given input it cannot use (a bad token id, an unknown sequence, too many tokens): a bug of the
 * caller, not of the model. Code `LLAMA_INPUT_INVALID`.
 *
 * @example
 * ```ts
 * import { LlamaFfiInputError, isQwen3GuardError } from "qwen3guard";
 *
 * function report(error: unknown): void {
 *   if (error instanceof LlamaFfiInputError || isQwen3GuardError(error, "LLAMA_INPUT_INVALID")) console.error(error.message);
 * }
 * report(new Error("unrelated"));
 * ```
 */
export class LlamaFfiInputError extends LlamaFfiError {
  constructor(message: string) {
    super("LLAMA_INPUT_INVALID", message);
  }
}

/**
 * A native llama.cpp call failed: loading the model or creating a context (a damaged file, not enough memory for
 * `contextSize` × `sequences`), or loading a backend. Code `LLAMA_NATIVE_FAILED`.
 *
 * @example
 * ```ts
 * import { GenGuard, LlamaFfiNativeError } from "qwen3guard";
 *
 * try {
 *   await (await GenGuard.load({ model: "/models/Qwen3Guard-Gen-0.6B", contextSize: 262_144, sequences: 64 })).close();
 * } catch (error) {
 *   if (error instanceof LlamaFfiNativeError) console.error("lower contextSize or sequences:", error.message);
 *   else throw error;
 * }
 * ```
 */
export class LlamaFfiNativeError extends LlamaFfiError {
  constructor(message: string) {
    super("LLAMA_NATIVE_FAILED", message);
  }
}

/**
 * A llama.cpp model or context of the binding was used after it was freed. Code `LLAMA_DISPOSED`.
 *
 * @example
 * ```ts
 * import { LlamaFfiDisposedError } from "qwen3guard";
 *
 * const error: unknown = new LlamaFfiDisposedError("the context was disposed");
 * if (error instanceof LlamaFfiDisposedError) console.log(error.code); // LLAMA_DISPOSED
 * ```
 */
export class LlamaFfiDisposedError extends LlamaFfiError {
  constructor(message: string) {
    super("LLAMA_DISPOSED", message);
  }
}

/** Why llama_decode refused or failed, from its return code (llama.h). */
export type LlamaDecodeFailure =
  /** 1: no KV slot for the batch; the KV cache is full. Remove old positions or use a bigger nCtx. */
  | "kv-full"
  /** 2: aborted; processed ubatches stay in the KV cache. */
  | "aborted"
  /** -1: the batch was invalid (positions out of order, sequence id out of range...). */
  | "invalid-batch"
  /** < -1: fatal error; processed ubatches stay in the KV cache. */
  | "fatal";

export function decodeFailureOf(code: number): LlamaDecodeFailure {
  if (code === 1) return "kv-full";
  if (code === 2) return "aborted";
  if (code === -1) return "invalid-batch";
  return "fatal";
}

const ADVICE: Record<LlamaDecodeFailure, string> = {
  "kv-full":
    "the KV cache is full: remove old positions with seqRemove() or create the context with a larger nCtx",
  aborted: "the decode was aborted; already processed tokens stay in the KV cache (check seqPosMax())",
  "invalid-batch":
    "llama.cpp rejected the batch: positions must continue each sequence (seqPosMax()+1) and seq ids be < nSeqMax",
  fatal: "llama.cpp failed; already processed tokens stay in the KV cache (check seqPosMax())",
};

/**
 * `llama_decode` returned a non-zero code: `status` is the code, `failure` what it means (`kv-full`, `aborted`,
 * `invalid-batch`, `fatal`). A guard reports it from the call that hit it. Code `LLAMA_DECODE_FAILED`.
 *
 * @example
 * ```ts
 * import { LlamaDecodeError } from "qwen3guard";
 *
 * const error = new LlamaDecodeError(1);
 * console.log(error.code, error.status, error.failure); // LLAMA_DECODE_FAILED 1 kv-full
 * ```
 */
export class LlamaDecodeError extends LlamaFfiError {
  /** What the status means. */
  readonly failure: LlamaDecodeFailure;
  constructor(
    /** What llama_decode returned. */
    readonly status: number,
    detail = "",
  ) {
    const failure = decodeFailureOf(status);
    super(
      "LLAMA_DECODE_FAILED",
      `llama_decode returned ${status} (${failure}): ${ADVICE[failure]}${detail ? ` [${detail}]` : ""}`,
    );
    this.failure = failure;
  }
}
