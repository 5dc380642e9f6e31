/** Errors thrown by the koffi binding over libllama. */
import { Qwen3GuardError } from "../../core/errors.js";

/** Base class: every error of this binding is an instance. */
export class LlamaFfiError extends Qwen3GuardError {}

/** A caller passed something the binding cannot use (bad token id, unknown sequence, too many tokens...). */
export class LlamaFfiInputError extends LlamaFfiError {
  constructor(message: string) {
    super("LLAMA_INPUT_INVALID", message);
  }
}

/** A native call failed (model or context creation, backend loading). */
export class LlamaFfiNativeError extends LlamaFfiError {
  constructor(message: string) {
    super("LLAMA_NATIVE_FAILED", message);
  }
}

/** The object was used after dispose(). */
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

/** llama_decode returned a non-zero code. */
export class LlamaDecodeError extends LlamaFfiError {
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
