/**
 * One live Qwen3Guard-Stream moderation: a conversation's prompt is in the KV cache of one engine sequence, and
 * the answer is fed as it is generated. Every answer token costs one token of compute (the KV cache is kept);
 * pushes made while a decode runs are coalesced into the next one (see DecodeCoalescer).
 *
 * Lifecycle: open (pushes accepted) → ended (end(): no more input, verdict final) → closed (close(): the sequence
 * is freed). A decode error moves the session to failed. Only an open session takes input; anything else throws
 * StreamSessionClosedError.
 */
import { isUnsafeUnder, type Strictness } from "../core/labels.js";
import type { StreamRule } from "../core/stream-decision.js";
import type { DecodeCoalescer } from "../engine/stream/decode-coalescer.js";
import type { HiddenStateEngine } from "../engine/stream/hidden-state-engine.js";
import type { AnswerScoring, HeadScore, StreamScorer } from "../engine/stream/stream-scoring.js";
import type { IncrementalTokenizer, QwenTokenizer } from "../model/tokenizer/index.js";
import {
  StreamContextFullError,
  StreamInputError,
  StreamListenerError,
  StreamSessionClosedError,
  type StreamSessionState,
} from "./stream-errors.js";
import type {
  StreamAnswerVerdict,
  StreamEvent,
  StreamPromptVerdict,
  StreamSessionOptions,
  StreamTokenVerdict,
  StreamTrigger,
} from "./stream-types.js";

/** What a session needs from its guard. */
export interface StreamSessionRuntime {
  engine: HiddenStateEngine;
  coalescer: DecodeCoalescer;
  scorer: StreamScorer;
  tokenizer: QwenTokenizer;
  /** Valid token ids are 0 .. vocabSize-1. */
  vocabSize: number;
  /** Give the sequence back to the guard's pool (after it was cleared). */
  release(seq: number): void;
}

type Listener = (trigger: StreamTrigger) => void;

/** Build the prompt verdict from the query heads at the last prompt position. */
export function promptVerdictOf(score: HeadScore, promptTokens: number): StreamPromptVerdict {
  return {
    ...score,
    unsafeStrict: isUnsafeUnder(score.tier, "strict"),
    unsafeLoose: isUnsafeUnder(score.tier, "loose"),
    promptTokens,
  };
}

function isTypedArray(
  value: unknown,
  tag: "Uint8Array" | "Int32Array" | "Uint32Array",
): value is ArrayLike<number> {
  // by tag, not instanceof: a typed array from another realm (a worker, a vm context) is accepted too
  return (
    ArrayBuffer.isView(value) && (value as { [Symbol.toStringTag]?: string })[Symbol.toStringTag] === tag
  );
}

function isUint8Array(value: unknown): value is Uint8Array {
  return value instanceof Uint8Array || isTypedArray(value, "Uint8Array");
}

/** "a Uint8Array", "an Int32Array", "the number 4"...: what a caller passed, for error messages. */
function describe(value: unknown): string {
  const a = (noun: string) => (/^[aeiou]/i.test(noun) ? `an ${noun}` : `a ${noun}`);
  if (value === null || value === undefined) return String(value);
  if (Array.isArray(value)) return "an array";
  if (ArrayBuffer.isView(value))
    return a((value as { [Symbol.toStringTag]?: string })[Symbol.toStringTag] ?? "typed array");
  if (value instanceof ArrayBuffer) return "an ArrayBuffer";
  if (typeof value === "string")
    return `a string (${JSON.stringify(value.length > 20 ? value.slice(0, 20) + "…" : value)})`;
  if (typeof value === "number") return `the number ${value}`;
  return typeof value === "object" ? "an object" : a(typeof value);
}

function badPushInput(value: unknown): string {
  const got = describe(value);
  if (Array.isArray(value) || isTypedArray(value, "Int32Array") || isTypedArray(value, "Uint32Array")) {
    return `push() takes answer text (a string, or UTF-8 bytes as a Uint8Array), got ${got}: to push token ids use pushTokens(ids)`;
  }
  if (value instanceof ArrayBuffer) {
    return `push() takes answer text (a string, or UTF-8 bytes as a Uint8Array), got ${got}: wrap it, push(new Uint8Array(buffer))`;
  }
  return `push() takes answer text (a string, or UTF-8 bytes as a Uint8Array), got ${got}`;
}

function badPushTokensInput(value: unknown): string {
  const got = describe(value);
  if (typeof value === "string" || isUint8Array(value)) {
    return `pushTokens() takes token ids (number[], Int32Array or Uint32Array), got ${got}: to push text or UTF-8 bytes use push()`;
  }
  return `pushTokens() takes token ids (number[], Int32Array or Uint32Array), got ${got}`;
}

/** A session's settings with every default filled in. */
export interface StreamSessionSettings {
  rule: StreamRule;
  mode: Strictness;
  onListenerError: (error: StreamListenerError) => void;
}

/** The default report of a listener's error: a process warning (printed on stderr unless handled). */
function emitListenerWarning(error: StreamListenerError): void {
  process.emitWarning(error);
}

/**
 * A session's settings: its own options over the guard's defaults over the built-in defaults (the one place
 * they are merged), checked at run time.
 * @throws StreamInputError naming a bad option.
 */
export function sessionSettings(
  defaults: Pick<StreamSessionOptions, "rule" | "mode" | "onListenerError">,
  options: Pick<StreamSessionOptions, "rule" | "mode" | "onListenerError">,
): StreamSessionSettings {
  const settings: StreamSessionSettings = {
    rule: options.rule ?? defaults.rule ?? "official",
    mode: options.mode ?? defaults.mode ?? "strict",
    onListenerError: options.onListenerError ?? defaults.onListenerError ?? emitListenerWarning,
  };
  if (settings.rule !== "official" && settings.rule !== "report") {
    throw new StreamInputError(
      `option rule: expected "official" or "report", got ${describe(settings.rule)}`,
    );
  }
  if (settings.mode !== "strict" && settings.mode !== "loose") {
    throw new StreamInputError(`option mode: expected "strict" or "loose", got ${describe(settings.mode)}`);
  }
  if (typeof settings.onListenerError !== "function") {
    throw new StreamInputError(
      `option onListenerError: expected a function, got ${describe(settings.onListenerError)}`,
    );
  }
  return settings;
}

type SessionArgs = [
  runtime: StreamSessionRuntime,
  sequence: number,
  prompt: StreamPromptVerdict,
  prefixLength: number,
  settings: StreamSessionSettings,
];

let createSession: (...args: SessionArgs) => StreamSession;

/**
 * What tests reach behind a session's public API. Not exported from the package entry.
 * @internal
 */
export interface StreamSessionInternals {
  /** The engine sequence the session holds. */
  readonly sequence: number;
}

let internalsOf: (session: StreamSession) => StreamSessionInternals;

/**
 * One live Qwen3Guard-Stream moderation, opened by `StreamGuard.openStream`: the prompt's verdict, then the
 * answer pushed as it is generated (text or token ids), a verdict per token, the stop (`onTrigger`), and the
 * whole-answer verdict. Close it to free its sequence.
 *
 * @example
 * ```ts
 * import { StreamGuard, type StreamSession } from "qwen3guard";
 *
 * const guard = await StreamGuard.load({ model: "/models/Qwen3Guard-Stream-0.6B" });
 * const session: StreamSession = await guard.openStream([{ role: "user", content: "Tell me a story" }]);
 * session.onTrigger((t) => console.log("stop the generator:", t.tier, t.category));
 * for (const chunk of ["Once upon", " a time", " there was a village."]) await session.push(chunk);
 * const { verdict } = await session.end();
 * console.log(verdict.tier);
 * await session.close();
 * await guard.close();
 * ```
 */
export class StreamSession {
  readonly #rule: StreamRule;
  readonly #mode: Strictness;
  readonly #prompt: StreamPromptVerdict;
  readonly #runtime: StreamSessionRuntime;
  /** The engine sequence this session holds. */
  readonly #sequence: number;
  readonly #scoring: AnswerScoring;
  #status: StreamSessionState = "open";
  #failure: unknown;
  /** Positions held in the sequence (prompt + header + answer tokens submitted). */
  #positions: number;
  readonly #answerStart: number;
  /** Answer tokens submitted (their verdicts may still be computing). */
  readonly #answer: number[] = [];
  #input: "tokens" | "text" | undefined;
  #incremental: IncrementalTokenizer | undefined;
  readonly #textDecoder = new TextDecoder("utf-8", { ignoreBOM: true });
  /** Processing of pushes, in order. */
  #tail: Promise<unknown> = Promise.resolve();
  #firedTrigger: StreamTrigger | undefined;
  readonly #listeners = new Set<Listener>();
  readonly #onListenerError: (error: StreamListenerError) => void;
  readonly #subscribers = new Set<(event: StreamEvent | Error | null) => void>();
  #closing: Promise<void> | undefined;

  static {
    createSession = (...args) => new StreamSession(...args);
    internalsOf = (session) => ({ sequence: session.#sequence });
  }

  /** Sessions are opened by StreamGuard.openStream. */
  private constructor(
    runtime: StreamSessionRuntime,
    sequence: number,
    prompt: StreamPromptVerdict,
    /** Positions used by the prompt and the assistant header. */
    prefixLength: number,
    settings: StreamSessionSettings,
  ) {
    this.#runtime = runtime;
    this.#sequence = sequence;
    this.#prompt = prompt;
    this.#rule = settings.rule;
    this.#mode = settings.mode;
    this.#onListenerError = settings.onListenerError;
    this.#scoring = runtime.scorer.answer({ rule: settings.rule, mode: settings.mode });
    this.#positions = prefixLength;
    this.#answerStart = prefixLength;
  }

  /**
   * Position of the first answer token in the model's sequence: the prompt's tokens plus the assistant header
   * (`\n<|im_start|>assistant\n<think>\n\n</think>\n\n`). Answer token `index` i sits at `answerStart + i`, the
   * absolute positions the official evaluation counts in.
   *
   * @example
   * ```ts
   * import { StreamGuard } from "qwen3guard";
   *
   * const guard = await StreamGuard.load({ model: "/models/Qwen3Guard-Stream-0.6B" });
   * const session = await guard.openStream([{ role: "user", content: "Hi" }]);
   * console.log(session.answerStart - session.prompt.promptTokens); // 8: the assistant header
   * await session.close();
   * await guard.close();
   * ```
   */
  get answerStart(): number {
    return this.#answerStart;
  }

  /**
   * The query heads' verdict on the prompt (at the last user turn's `<|im_end|>`), known once the session is open.
   *
   * @example
   * ```ts
   * import { StreamGuard } from "qwen3guard";
   *
   * const guard = await StreamGuard.load({ model: "/models/Qwen3Guard-Stream-0.6B" });
   * const session = await guard.openStream([{ role: "user", content: "How do I bake bread?" }]);
   * console.log(session.prompt.tier, session.prompt.category, session.prompt.probabilities.Unsafe);
   * await session.close();
   * await guard.close();
   * ```
   */
  get prompt(): StreamPromptVerdict {
    return this.#prompt;
  }

  /**
   * The pair rule this session applies: `"official"` (an Unsafe pair, else a Controversial pair) or `"report"`.
   *
   * @example
   * ```ts
   * import { StreamGuard } from "qwen3guard";
   *
   * const guard = await StreamGuard.load({ model: "/models/Qwen3Guard-Stream-0.6B" });
   * const session = await guard.openStream([{ role: "user", content: "Hi" }], { rule: "report" });
   * console.log(session.rule); // "report"
   * await session.close();
   * await guard.close();
   * ```
   */
  get rule(): StreamRule {
    return this.#rule;
  }

  /**
   * Which triggers stop the stream: `"strict"` (Controversial pairs too) or `"loose"` (Unsafe pairs only).
   *
   * @example
   * ```ts
   * import { StreamGuard } from "qwen3guard";
   *
   * const guard = await StreamGuard.load({ model: "/models/Qwen3Guard-Stream-0.6B" });
   * const session = await guard.openStream([{ role: "user", content: "Hi" }], { mode: "loose" });
   * console.log(session.mode); // "loose"
   * await session.close();
   * await guard.close();
   * ```
   */
  get mode(): Strictness {
    return this.#mode;
  }

  /**
   * `"open"` (takes input), `"ended"` (end() called), `"closed"` (close() called) or `"failed"` (a decode error).
   *
   * @example
   * ```ts
   * import { StreamGuard } from "qwen3guard";
   *
   * const guard = await StreamGuard.load({ model: "/models/Qwen3Guard-Stream-0.6B" });
   * const session = await guard.openStream([{ role: "user", content: "Hi" }]);
   * console.log(session.state); // "open"
   * await session.end();
   * console.log(session.state); // "ended"
   * await session.close();
   * console.log(session.state); // "closed"
   * await guard.close();
   * ```
   */
  get state(): StreamSessionState {
    return this.#status;
  }

  /**
   * Answer tokens pushed so far (including those whose verdicts are still being computed; text held back for
   * the next chunk is not counted yet).
   *
   * @example
   * ```ts
   * import { StreamGuard } from "qwen3guard";
   *
   * const guard = await StreamGuard.load({ model: "/models/Qwen3Guard-Stream-0.6B" });
   * const session = await guard.openStream([{ role: "user", content: "Hi" }]);
   * await session.push("Hello there, how are you today?");
   * console.log(session.tokenCount); // the tokens made final so far
   * await session.close();
   * await guard.close();
   * ```
   */
  get tokenCount(): number {
    return this.#answer.length;
  }

  /**
   * The stop: the first pair of flagged tokens the rule and mode allow, once it fired (else `undefined`).
   *
   * @example
   * ```ts
   * import { StreamGuard } from "qwen3guard";
   *
   * const guard = await StreamGuard.load({ model: "/models/Qwen3Guard-Stream-0.6B" });
   * const session = await guard.openStream([{ role: "user", content: "Tell me a story" }]);
   * for (const word of ["Once", " upon", " a", " time"]) {
   *   await session.push(word);
   *   if (session.trigger) break; // stop the generator here
   * }
   * console.log(session.trigger?.index ?? "no stop");
   * await session.close();
   * await guard.close();
   * ```
   */
  get trigger(): StreamTrigger | undefined {
    return this.#firedTrigger;
  }

  /**
   * The whole-answer verdict over the tokens processed so far: Safe, or the deciding pair's tier with the
   * triggering token, its category and its probabilities (under the official rule an Unsafe pair anywhere beats
   * an earlier Controversial pair).
   *
   * @example
   * ```ts
   * import { StreamGuard } from "qwen3guard";
   *
   * const guard = await StreamGuard.load({ model: "/models/Qwen3Guard-Stream-0.6B" });
   * const session = await guard.openStream([{ role: "user", content: "Hi" }]);
   * await session.push("Hello! How can I help?");
   * await session.settled();
   * const v = session.verdict;
   * console.log(v.tier, v.tier === "Safe" ? "" : v.category);
   * await session.close();
   * await guard.close();
   * ```
   */
  get verdict(): StreamAnswerVerdict {
    const v = this.#scoring.final();
    const tokens = this.#scoring.length;
    if (v.tier === "Safe") return { tier: "Safe", tokens };
    return {
      tier: v.tier,
      index: v.index,
      token: this.#answer[v.index]!,
      category: v.category,
      probabilities: v.probabilities,
      tokens,
    };
  }

  /**
   * Feed a chunk of answer text, from any LLM, in chunks of any size: a string, or UTF-8 bytes (a `Uint8Array`,
   * e.g. a `Buffer` from stdin or a chunk of a `fetch` body; a character split across chunks is joined). The text
   * is re-tokenized incrementally, so a piece the next chunk could still change is held back until then or end().
   * Resolves with the verdicts of the tokens this push made final, in order. Token ids go through pushTokens().
   * @throws StreamInputError (not text), StreamSessionClosedError (not open), StreamContextFullError
   *
   * @example
   * ```ts
   * import { StreamGuard } from "qwen3guard";
   *
   * const guard = await StreamGuard.load({ model: "/models/Qwen3Guard-Stream-0.6B" });
   * const session = await guard.openStream([{ role: "user", content: "Tell me a story" }]);
   * const verdicts = await session.push("Once upon a time");
   * await session.push(new TextEncoder().encode(" there was a village.")); // UTF-8 bytes work too
   * for (const v of verdicts) console.log(JSON.stringify(v.text), v.tier);
   * await session.end();
   * await session.close();
   * await guard.close();
   * ```
   */
  push(text: string | Uint8Array): Promise<StreamTokenVerdict[]> {
    if (typeof text !== "string" && !isUint8Array(text)) {
      return Promise.reject(new StreamInputError(badPushInput(text)));
    }
    let ids: number[];
    try {
      this.#checkOpen();
      this.#checkInput("text");
      this.#incremental ??= this.#runtime.tokenizer.createIncremental();
      ids = this.#incremental.push(text);
      this.#checkRoom(ids.length);
    } catch (error) {
      if (error instanceof StreamContextFullError) this.#fail(error);
      return Promise.reject(error);
    }
    return this.#submit(ids);
  }

  /**
   * Feed answer token ids of the Qwen3 vocabulary: a `number[]`, an `Int32Array` or a `Uint32Array` (copied; the
   * caller may reuse it). A session takes either token ids or text, not both.
   * @throws StreamInputError (not integer ids of the vocabulary), StreamSessionClosedError, StreamContextFullError
   *
   * @example
   * ```ts
   * import { StreamGuard } from "qwen3guard";
   *
   * const guard = await StreamGuard.load({ model: "/models/Qwen3Guard-Stream-0.6B" });
   * const session = await guard.openStream([{ role: "user", content: "Hi" }]);
   * const verdicts = await session.pushTokens([9707, 0]); // Qwen3 ids: "Hello", "!"
   * console.log(verdicts.map((v) => `${v.token}:${v.tier}`).join(" "));
   * await session.close();
   * await guard.close();
   * ```
   */
  pushTokens(ids: readonly number[] | Int32Array | Uint32Array): Promise<StreamTokenVerdict[]> {
    let tokens: number[];
    try {
      tokens = this.#tokenIds(ids);
      this.#checkOpen();
      this.#checkInput("tokens");
      this.#checkRoom(tokens.length);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#submit(tokens);
  }

  /**
   * The answer is complete: flush held-back text, wait for every verdict, and return the final whole-answer
   * verdict with the verdicts of the flushed tokens. The session then takes no more input; close() it.
   *
   * @example
   * ```ts
   * import { StreamGuard } from "qwen3guard";
   *
   * const guard = await StreamGuard.load({ model: "/models/Qwen3Guard-Stream-0.6B" });
   * const session = await guard.openStream([{ role: "user", content: "Hi" }]);
   * await session.push("Hello! How can I help");
   * const { tokens, verdict } = await session.end(); // tokens: the verdicts of the text held back until now
   * console.log(tokens.length, verdict.tier, verdict.tokens);
   * await session.close();
   * await guard.close();
   * ```
   */
  async end(): Promise<{ tokens: StreamTokenVerdict[]; verdict: StreamAnswerVerdict }> {
    this.#checkOpen();
    let last: Promise<StreamTokenVerdict[]> = Promise.resolve([]);
    const rest = this.#incremental?.flush() ?? [];
    if (rest.length > 0) {
      try {
        this.#checkRoom(rest.length);
      } catch (error) {
        this.#fail(error);
        throw error;
      }
      last = this.#submit(rest);
    }
    this.#status = "ended";
    const tokens = await last;
    await this.#tail;
    if (this.#failure !== undefined) throw new StreamSessionClosedError("failed", this.#failure);
    const verdict = this.verdict;
    this.#emit({ type: "end", verdict });
    this.#finishSubscribers(null);
    return { tokens, verdict };
  }

  /**
   * Wait for the verdicts of everything pushed so far (pushes need not be awaited one by one).
   *
   * @example
   * ```ts
   * import { StreamGuard } from "qwen3guard";
   *
   * const guard = await StreamGuard.load({ model: "/models/Qwen3Guard-Stream-0.6B" });
   * const session = await guard.openStream([{ role: "user", content: "Hi" }]);
   * for (const id of [9707, 0]) void session.pushTokens([id]); // not awaited: coalesced into fewer decodes
   * await session.settled();
   * console.log(session.verdict.tokens); // 2
   * await session.close();
   * await guard.close();
   * ```
   */
  async settled(): Promise<void> {
    await this.#tail;
  }

  /**
   * Call `listener` once, the moment the stop rule fires (before the push that fired resolves; in a microtask
   * if it already fired). Returns a function that removes the listener. What a listener throws is reported to
   * `onListenerError` (default: a process warning), never thrown.
   *
   * @example
   * ```ts
   * import { StreamGuard } from "qwen3guard";
   *
   * const guard = await StreamGuard.load({ model: "/models/Qwen3Guard-Stream-0.6B" });
   * const session = await guard.openStream([{ role: "user", content: "Tell me a story" }]);
   * const generation = new AbortController(); // your LLM call's signal
   * session.onTrigger((t) => generation.abort(`${t.tier} (${t.category}) at token ${t.index}`));
   * await session.push("Once upon a time there was a quiet village.");
   * await session.close();
   * await guard.close();
   * ```
   */
  onTrigger(listener: Listener): () => void {
    if (typeof listener !== "function") {
      throw new StreamInputError(`onTrigger() takes a function, got ${describe(listener)}`);
    }
    if (this.#firedTrigger) {
      const t = this.#firedTrigger;
      queueMicrotask(() => this.#callListener(listener, t));
      return () => {};
    }
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Events from now on, in order: one "token" per answer token, "trigger" right after the token that fired,
   * "end" after end(). The iteration finishes at end() or close(), and throws if the session fails.
   *
   * @example
   * ```ts
   * import { StreamGuard } from "qwen3guard";
   *
   * const guard = await StreamGuard.load({ model: "/models/Qwen3Guard-Stream-0.6B" });
   * const session = await guard.openStream([{ role: "user", content: "Hi" }]);
   * const log = (async () => {
   *   for await (const e of session.events()) console.log(e.type);
   * })();
   * await session.push("Hello!");
   * await session.end();
   * await session.close();
   * await log; // token, token, end
   * await guard.close();
   * ```
   */
  events(): AsyncIterableIterator<StreamEvent> {
    const queue: (StreamEvent | Error | null)[] = [];
    let wake: (() => void) | undefined;
    const subscriber = (event: StreamEvent | Error | null) => {
      queue.push(event);
      wake?.();
    };
    if (this.#status === "open") this.#subscribers.add(subscriber);
    else queue.push(this.#status === "failed" ? new StreamSessionClosedError("failed", this.#failure) : null);
    const next = async (): Promise<IteratorResult<StreamEvent>> => {
      while (queue.length === 0) await new Promise<void>((resolve) => (wake = resolve));
      wake = undefined;
      const item = queue.shift()!;
      if (item === null) {
        queue.unshift(null);
        return { done: true, value: undefined };
      }
      if (item instanceof Error) {
        queue.unshift(null);
        throw item;
      }
      return { done: false, value: item };
    };
    const iterator: AsyncIterableIterator<StreamEvent> = {
      next,
      return: async () => {
        this.#subscribers.delete(subscriber);
        queue.length = 0;
        queue.push(null);
        return { done: true, value: undefined };
      },
      [Symbol.asyncIterator]: () => iterator,
    };
    return iterator;
  }

  /**
   * Free the session's sequence for another session (after the pending decodes). Idempotent; the session takes
   * no more input.
   *
   * @example
   * ```ts
   * import { StreamGuard } from "qwen3guard";
   *
   * const guard = await StreamGuard.load({ model: "/models/Qwen3Guard-Stream-0.6B" });
   * const session = await guard.openStream([{ role: "user", content: "Hi" }]);
   * try {
   *   await session.push("Hello!");
   * } finally {
   *   await session.close();
   * }
   * await guard.close();
   * ```
   */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      if (this.#status === "open" || this.#status === "ended") this.#status = "closed";
      await this.#tail.catch(() => undefined);
      this.#finishSubscribers(null);
      this.#listeners.clear();
      try {
        await this.#runtime.engine.close(this.#sequence);
      } finally {
        this.#runtime.release(this.#sequence);
      }
    })();
    return this.#closing;
  }

  /**
   * `await using session = await guard.openStream(...)` closes the session at the end of the scope.
   *
   * @example
   * ```ts
   * import { StreamGuard } from "qwen3guard";
   *
   * const guard = await StreamGuard.load({ model: "/models/Qwen3Guard-Stream-0.6B" });
   * const session = await guard.openStream([{ role: "user", content: "Hi" }]);
   * await session[Symbol.asyncDispose](); // what `await using` calls
   * console.log(session.state); // "closed"
   * await guard.close();
   * ```
   */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** Check and copy pushTokens' argument (plain JS callers pass anything). */
  #tokenIds(ids: unknown): number[] {
    let list: number[];
    if (Array.isArray(ids)) list = [...(ids as unknown[])] as number[];
    else if (isTypedArray(ids, "Int32Array") || isTypedArray(ids, "Uint32Array")) list = Array.from(ids);
    else throw new StreamInputError(badPushTokensInput(ids));
    const vocabSize = this.#runtime.vocabSize;
    list.forEach((t, i) => {
      if (typeof t !== "number" || !Number.isInteger(t)) {
        throw new StreamInputError(
          `pushTokens(): element ${i} is ${describe(t)}, not a token id (an integer 0..${vocabSize - 1}); to push text use push(text)`,
        );
      }
      if (t < 0 || t >= vocabSize) {
        throw new StreamInputError(
          `token id ${t} is outside the vocabulary (0..${vocabSize - 1}): push Qwen3 token ids, or text`,
        );
      }
    });
    return list;
  }

  #checkOpen(): void {
    if (this.#status !== "open") throw new StreamSessionClosedError(this.#status, this.#failure);
  }

  #checkInput(kind: "tokens" | "text"): void {
    if (this.#input !== undefined && this.#input !== kind) {
      throw new StreamInputError(
        `this session was fed ${this.#input === "text" ? "text" : "token ids"}: a session takes either token ids or text, not both`,
      );
    }
    this.#input = kind;
  }

  #checkRoom(count: number): void {
    const needed = this.#positions + count;
    if (needed > this.#runtime.engine.contextSize) {
      throw new StreamContextFullError(needed, this.#runtime.engine.contextSize);
    }
  }

  #fail(error: unknown): void {
    if (this.#status === "failed" || this.#status === "closed") return;
    this.#status = "failed";
    this.#failure = error;
    this.#finishSubscribers(new StreamSessionClosedError("failed", error));
  }

  #submit(ids: readonly number[]): Promise<StreamTokenVerdict[]> {
    if (ids.length === 0) return this.#tail.then(() => []);
    const start = this.#answer.length;
    for (const id of ids) this.#answer.push(id);
    this.#positions += ids.length;
    // submitted now (so it can ride in the next decode), processed after the earlier pushes
    const states = this.#runtime.coalescer.submit(this.#sequence, ids);
    states.catch(() => undefined);
    const done = this.#tail.then(async () => {
      if (this.#failure !== undefined) throw new StreamSessionClosedError("failed", this.#failure);
      let hidden: Float32Array[];
      try {
        hidden = await states;
      } catch (error) {
        this.#fail(error);
        throw new StreamSessionClosedError("failed", error);
      }
      return hidden.map((h, k) => this.#tokenVerdict(start + k, ids[k]!, h));
    });
    this.#tail = done.catch(() => undefined);
    return done;
  }

  #tokenVerdict(index: number, token: number, hidden: Float32Array): StreamTokenVerdict {
    const { score, fired } = this.#scoring.push(hidden);
    const text = this.#textDecoder.decode(this.#runtime.tokenizer.tokenToBytes(token), { stream: true });
    const verdict: StreamTokenVerdict = { index, token, text, ...score };
    if (fired) {
      const trigger: StreamTrigger = {
        tier: fired.tier,
        index,
        token,
        text,
        category: fired.category,
        probabilities: fired.probabilities,
        categoryProbabilities: fired.categoryProbabilities,
        rule: this.#rule,
        mode: this.#mode,
      };
      verdict.trigger = trigger;
      this.#firedTrigger = trigger;
      this.#emit({ type: "token", verdict });
      this.#emit({ type: "trigger", trigger });
      const listeners = [...this.#listeners];
      this.#listeners.clear();
      for (const l of listeners) this.#callListener(l, trigger);
    } else {
      this.#emit({ type: "token", verdict });
    }
    return verdict;
  }

  /** Call an application listener: what it throws is reported, never let out (it would crash the process). */
  #callListener(listener: Listener, trigger: StreamTrigger): void {
    try {
      listener(trigger);
    } catch (error) {
      const wrapped = new StreamListenerError("onTrigger", error);
      try {
        this.#onListenerError(wrapped);
      } catch (handlerError) {
        process.emitWarning(new StreamListenerError("onListenerError", handlerError));
      }
    }
  }

  #emit(event: StreamEvent): void {
    for (const s of this.#subscribers) s(event);
  }

  #finishSubscribers(final: Error | null): void {
    for (const s of this.#subscribers) s(final);
    this.#subscribers.clear();
  }
}

/**
 * Open a session on a sequence whose prompt and header are decoded (StreamGuard.openStream's job).
 * @internal
 */
export function openSession(...args: SessionArgs): StreamSession {
  return createSession(...args);
}

/**
 * The engine sequence behind a session, for tests. Not exported from the package entry.
 * @internal
 */
export function streamSessionInternals(session: StreamSession): StreamSessionInternals {
  return internalsOf(session);
}
