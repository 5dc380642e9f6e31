/**
 * A fixed set of sequences handed to one request at a time. A request gets the free sequence whose evaluated
 * tokens share the longest prefix with its prompt (so the template head already in its KV cache is reused), or
 * an empty one when no warm sequence shares a useful prefix. When none is free it waits, first come first
 * served: a released sequence is handed straight to the oldest waiter, so a newcomer never overtakes it (the
 * Stream slot pool, src/guard/stream-slots.ts, works the same way).
 *
 * A request that fails may leave its sequence in an unknown state. The pool resets it (twice at most) before
 * anyone else gets it; a sequence whose reset keeps failing is retired, never handed out again. When every
 * sequence is retired, waiting and new requests fail with GenEngineBrokenError instead of waiting forever.
 */
import { Qwen3GuardError } from "../../core/errors.js";

export interface PooledSequence {
  /** Tokens this sequence's KV cache holds, in order. */
  readonly tokens: readonly number[];
}

/** Below this many shared tokens, an empty sequence is a better home than a warm one. */
export const MIN_USEFUL_SHARED_PREFIX = 64;

/** Attempts at resetting a sequence after a failed request before it is retired. */
export const RESET_ATTEMPTS = 2;

export function sharedPrefixLength(a: readonly number[], b: readonly number[]): number {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a[i] === b[i]) i++;
  return i;
}

/**
 * Every sequence of a Gen engine failed to reset after an engine error and was retired: the guard cannot
 * serve requests any more. `cause` holds the last reset error. Close the guard and load it again. Code
 * `GEN_ENGINE_BROKEN`.
 *
 * @example
 * ```ts
 * import { GenEngineBrokenError, GenGuard } from "qwen3guard";
 *
 * let guard = await GenGuard.load({ model: "/models/Qwen3Guard-Gen-0.6B" });
 * try {
 *   await guard.moderatePrompt("Hi");
 * } catch (error) {
 *   if (!(error instanceof GenEngineBrokenError)) throw error;
 *   await guard.close(); // start over with a fresh engine
 *   guard = await GenGuard.load({ model: "/models/Qwen3Guard-Gen-0.6B" });
 * }
 * await guard.close();
 * ```
 */
export class GenEngineBrokenError extends Qwen3GuardError {
  constructor(sequences: number, cause: unknown) {
    super(
      "GEN_ENGINE_BROKEN",
      `all ${sequences} sequences of this Gen engine were retired after their KV cache could not be reset ` +
        `(${cause instanceof Error ? cause.message : String(cause)}): close the guard and load it again`,
      { cause },
    );
  }
}

/** The warning engines give when the pool retires a sequence. */
export function retiredMessage(error: unknown, live: number): string {
  return (
    `a Gen sequence was retired: its KV cache could not be reset after a failed request ` +
    `(${error instanceof Error ? error.message : String(error)}); ${live} sequence(s) left`
  );
}

export interface SequencePoolOptions<S> {
  /** Empty a sequence (its KV cache and what it records of it) after a failed request. */
  reset: (seq: S) => Promise<void>;
  /** Told when a sequence is retired (its reset failed {@link RESET_ATTEMPTS} times). */
  onRetire?: (error: unknown, live: number) => void;
}

interface Waiter<S> {
  resolve: (seq: S) => void;
  reject: (error: unknown) => void;
}

export class SequencePool<S extends PooledSequence> {
  readonly #free: S[];
  readonly #waiters: Waiter<S>[] = [];
  readonly #size: number;
  #live: number;
  #lastResetError: unknown;

  constructor(
    sequences: readonly S[],
    private readonly options: SequencePoolOptions<S>,
  ) {
    this.#free = [...sequences];
    this.#size = sequences.length;
    this.#live = sequences.length;
  }

  /** Sequences not retired. */
  get live(): number {
    return this.#live;
  }

  /** Requests waiting for a sequence. */
  get waiting(): number {
    return this.#waiters.length;
  }

  /**
   * A sequence for `promptIds`: at once when one is free, else the next one released, in the order of the calls.
   * @throws GenEngineBrokenError when every sequence was retired.
   */
  acquire(promptIds: readonly number[]): Promise<S> {
    if (this.#live === 0) return Promise.reject(new GenEngineBrokenError(this.#size, this.#lastResetError));
    // A waiter exists only while nothing is free (release hands over directly), so a free sequence means no queue.
    if (this.#free.length > 0) return Promise.resolve(this.#pick(promptIds));
    return new Promise<S>((resolve, reject) => this.#waiters.push({ resolve, reject }));
  }

  /** Give a sequence back in a known state: to the oldest waiter, else to the free list. */
  release(seq: S): void {
    const next = this.#waiters.shift();
    if (next) next.resolve(seq);
    else this.#free.push(seq);
  }

  /**
   * Hold a sequence chosen for `promptIds` while `work` runs. When `work` fails, the sequence is reset before
   * it goes back; one that cannot be reset is retired.
   */
  async use<T>(promptIds: readonly number[], work: (seq: S) => Promise<T>): Promise<T> {
    const seq = await this.acquire(promptIds);
    let result: T;
    try {
      result = await work(seq);
    } catch (error) {
      if (await this.#reset(seq)) this.release(seq);
      throw error;
    }
    this.release(seq);
    return result;
  }

  #pick(promptIds: readonly number[]): S {
    let bestIndex = 0;
    let bestShared = -1;
    this.#free.forEach((seq, i) => {
      const shared = sharedPrefixLength(seq.tokens, promptIds);
      if (shared > bestShared) {
        bestShared = shared;
        bestIndex = i;
      }
    });
    const empty = this.#free.findIndex((seq) => seq.tokens.length === 0);
    if (bestShared < MIN_USEFUL_SHARED_PREFIX && empty >= 0) bestIndex = empty;
    return this.#free.splice(bestIndex, 1)[0]!;
  }

  /** Reset a sequence after a failed request; false when it was retired instead. */
  async #reset(seq: S): Promise<boolean> {
    let lastError: unknown;
    for (let attempt = 0; attempt < RESET_ATTEMPTS; attempt++) {
      try {
        await this.options.reset(seq);
        return true;
      } catch (error) {
        lastError = error;
      }
    }
    this.#lastResetError = lastError;
    this.#live--;
    try {
      this.options.onRetire?.(lastError, this.#live);
    } catch {
      // a reporting callback must not change what the request sees
    }
    if (this.#live === 0) {
      const broken = new GenEngineBrokenError(this.#size, lastError);
      for (const w of this.#waiters.splice(0)) w.reject(broken);
    }
    return false;
  }
}
