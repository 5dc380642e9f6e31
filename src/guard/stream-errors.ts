/** Typed errors of the Stream guard API. */
import { Qwen3GuardError } from "../core/errors.js";

/** Base class of every Stream guard error. */
export class StreamGuardError extends Qwen3GuardError {}

export type StreamSessionState = "open" | "ended" | "closed" | "failed";

/**
 * The session cannot take more input: it was ended (`end()`), closed (`close()`), or it failed (a decode error;
 * `cause` holds it). Open a new session.
 */
export class StreamSessionClosedError extends StreamGuardError {
  constructor(
    readonly state: Exclude<StreamSessionState, "open">,
    cause?: unknown,
  ) {
    const why =
      state === "ended"
        ? "it was ended with end()"
        : state === "closed"
          ? "it was closed"
          : `it failed (${cause instanceof Error ? cause.message : String(cause)})`;
    super("STREAM_SESSION_CLOSED", `this Stream session cannot take more input: ${why}; open a new session`, {
      cause,
    });
  }
}

/** Bad input to a session (token ids outside the vocabulary, mixing token and text input...). */
export class StreamInputError extends StreamGuardError {
  constructor(message: string) {
    super("STREAM_INPUT_INVALID", message);
  }
}

/** The conversation plus the answer would exceed the positions a session holds (`contextSize`). */
export class StreamContextFullError extends StreamGuardError {
  constructor(
    readonly needed: number,
    readonly contextSize: number,
  ) {
    super(
      "STREAM_CONTEXT_FULL",
      `this Stream session would need ${needed} positions but holds ${contextSize}: load the guard with a larger contextSize`,
    );
  }
}

/** Every session slot is taken and openStream was asked not to wait (`whenFull: "throw"`), or the wait was aborted. */
export class StreamCapacityError extends StreamGuardError {
  constructor(message: string) {
    super("STREAM_CAPACITY", message);
  }
}

/**
 * A listener the application gave a session (`onTrigger`) threw. The session does not let it escape: it is caught,
 * wrapped in this error (`cause` holds what the listener threw) and reported to the `onListenerError` option
 * (default: `process.emitWarning`); the other listeners are still called and the session goes on.
 */
export class StreamListenerError extends StreamGuardError {
  constructor(
    /** Which kind of listener threw. */
    readonly listener: "onTrigger" | "onListenerError",
    cause: unknown,
  ) {
    const what = cause instanceof Error ? cause.message : String(cause);
    super(
      "STREAM_LISTENER_FAILED",
      listener === "onTrigger"
        ? `a Stream session's onTrigger listener threw (${what}); the session went on: fix the listener, or pass onListenerError to handle this`
        : `a Stream session's onListenerError handler threw (${what}) while reporting a listener's error`,
      { cause },
    );
  }
}

/** The guard was closed. */
export class StreamGuardClosedError extends StreamGuardError {
  constructor(message = "the Stream guard was closed") {
    super("STREAM_GUARD_CLOSED", message);
  }
}
