/** Typed errors of the Stream guard API. */
import { Qwen3GuardError } from "../core/errors.js";

/**
 * Base class of every Stream guard error (the `STREAM_*` codes): catch it to handle them all.
 *
 * @example
 * ```ts
 * import { StreamGuard, StreamGuardError } from "qwen3guard";
 *
 * const guard = await StreamGuard.load({ model: "/models/Qwen3Guard-Stream-0.6B" });
 * try {
 *   const session = await guard.openStream([{ role: "user", content: "Hi" }], { whenFull: "throw" });
 *   await session.push("Hello!");
 *   await session.close();
 * } catch (error) {
 *   if (error instanceof StreamGuardError) console.error(error.code, error.message);
 *   else throw error;
 * }
 * await guard.close();
 * ```
 */
export class StreamGuardError extends Qwen3GuardError {}

/**
 * Where a Stream session is in its life (`session.state`): `open` (takes input), `ended` (`end()` was called),
 * `closed` (`close()`, or the guard was closed), `failed` (a decode error: the session takes no more input).
 *
 * @example
 * ```ts
 * import { StreamGuard, type StreamSessionState } from "qwen3guard";
 *
 * const guard = await StreamGuard.load({ model: "/models/Qwen3Guard-Stream-0.6B" });
 * const session = await guard.openStream([{ role: "user", content: "Hi" }]);
 * await session.end();
 * const state: StreamSessionState = session.state;
 * console.log(state); // ended
 * await session.close();
 * await guard.close();
 * ```
 */
export type StreamSessionState = "open" | "ended" | "closed" | "failed";

/**
 * The session cannot take more input: it was ended (`end()`), closed (`close()`), or it failed (a decode error;
 * `cause` holds it); `state` says which. Open a new session. Code `STREAM_SESSION_CLOSED`.
 *
 * @example
 * ```ts
 * import { StreamGuard, StreamSessionClosedError } from "qwen3guard";
 *
 * const guard = await StreamGuard.load({ model: "/models/Qwen3Guard-Stream-0.6B" });
 * const session = await guard.openStream([{ role: "user", content: "Hi" }]);
 * await session.end();
 * try {
 *   await session.push("more text");
 * } catch (error) {
 *   if (error instanceof StreamSessionClosedError) console.log(error.code, error.state); // STREAM_SESSION_CLOSED ended
 * }
 * await session.close();
 * await guard.close();
 * ```
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

/**
 * Bad input to a session (token ids outside the vocabulary, mixing token and text input, a value of the wrong
 * type) or a bad session setting. Code `STREAM_INPUT_INVALID`.
 *
 * @example
 * ```ts
 * import { StreamGuard, StreamInputError } from "qwen3guard";
 *
 * const guard = await StreamGuard.load({ model: "/models/Qwen3Guard-Stream-0.6B" });
 * const session = await guard.openStream([{ role: "user", content: "Hi" }]);
 * try {
 *   await session.pushTokens([-1]);
 * } catch (error) {
 *   if (error instanceof StreamInputError) console.log(error.code); // STREAM_INPUT_INVALID
 * }
 * await session.close();
 * await guard.close();
 * ```
 */
export class StreamInputError extends StreamGuardError {
  constructor(message: string) {
    super("STREAM_INPUT_INVALID", message);
  }
}

/**
 * The conversation plus the answer would exceed the positions a session holds (`contextSize`): `needed` and
 * `contextSize` say by how much. Load the guard with a larger `contextSize`. Code `STREAM_CONTEXT_FULL`.
 *
 * @example
 * ```ts
 * import { StreamContextFullError, StreamGuard } from "qwen3guard";
 *
 * const guard = await StreamGuard.load({ model: "/models/Qwen3Guard-Stream-0.6B", contextSize: 64 });
 * try {
 *   await guard.openStream([{ role: "user", content: "a long question ".repeat(100) }]);
 * } catch (error) {
 *   if (error instanceof StreamContextFullError) console.log(error.needed, ">", error.contextSize);
 * }
 * await guard.close();
 * ```
 */
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

/**
 * Every session slot is taken and `openStream` was asked not to wait (`whenFull: "throw"`), or the wait was
 * aborted (`signal`). Code `STREAM_CAPACITY` (the server answers 429).
 *
 * @example
 * ```ts
 * import { StreamCapacityError, StreamGuard } from "qwen3guard";
 *
 * const guard = await StreamGuard.load({ model: "/models/Qwen3Guard-Stream-0.6B", sequences: 1 });
 * const first = await guard.openStream([{ role: "user", content: "Hi" }]);
 * try {
 *   await guard.openStream([{ role: "user", content: "Hello" }], { whenFull: "throw" });
 * } catch (error) {
 *   if (error instanceof StreamCapacityError) console.log(error.code); // STREAM_CAPACITY
 * }
 * await first.close();
 * await guard.close();
 * ```
 */
export class StreamCapacityError extends StreamGuardError {
  constructor(message: string) {
    super("STREAM_CAPACITY", message);
  }
}

/**
 * A listener the application gave a session (`onTrigger`) threw. The session does not let it escape: it is caught,
 * wrapped in this error (`cause` holds what the listener threw) and reported to the `onListenerError` option
 * (default: `process.emitWarning`); the other listeners are still called and the session goes on. Never thrown.
 * Code `STREAM_LISTENER_FAILED`.
 *
 * @example
 * ```ts
 * import { StreamGuard, type StreamListenerError } from "qwen3guard";
 *
 * const guard = await StreamGuard.load({
 *   model: "/models/Qwen3Guard-Stream-0.6B",
 *   onListenerError: (error: StreamListenerError) => console.error(error.listener, error.cause),
 * });
 * await guard.close();
 * ```
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

/**
 * The Stream guard was closed: no session opens any more, and a wait for a free slot stops with it. Code
 * `STREAM_GUARD_CLOSED`.
 *
 * @example
 * ```ts
 * import { StreamGuard, StreamGuardClosedError } from "qwen3guard";
 *
 * const guard = await StreamGuard.load({ model: "/models/Qwen3Guard-Stream-0.6B" });
 * await guard.close();
 * try {
 *   await guard.openStream([{ role: "user", content: "Hi" }]);
 * } catch (error) {
 *   if (error instanceof StreamGuardClosedError) console.log(error.code); // STREAM_GUARD_CLOSED
 * }
 * ```
 */
export class StreamGuardClosedError extends StreamGuardError {
  constructor(message = "the Stream guard was closed") {
    super("STREAM_GUARD_CLOSED", message);
  }
}
