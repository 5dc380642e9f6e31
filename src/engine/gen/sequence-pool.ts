/**
 * A fixed set of sequences handed to one request at a time. A request gets the free sequence whose evaluated
 * tokens share the longest prefix with its prompt (so the template head already in its KV cache is reused), or
 * an empty one when no warm sequence shares a useful prefix; when none is free it waits, first come first served.
 */
export interface PooledSequence {
  /** Tokens this sequence's KV cache holds, in order. */
  readonly tokens: readonly number[];
}

/** Below this many shared tokens, an empty sequence is a better home than a warm one. */
export const MIN_USEFUL_SHARED_PREFIX = 64;

export function sharedPrefixLength(a: readonly number[], b: readonly number[]): number {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a[i] === b[i]) i++;
  return i;
}

export class SequencePool<S extends PooledSequence> {
  private readonly free: S[];
  private readonly waiters: (() => void)[] = [];

  constructor(sequences: readonly S[]) {
    this.free = [...sequences];
  }

  async acquire(promptIds: readonly number[]): Promise<S> {
    while (this.free.length === 0) await new Promise<void>((resolve) => this.waiters.push(resolve));
    let bestIndex = 0;
    let bestShared = -1;
    this.free.forEach((seq, i) => {
      const shared = sharedPrefixLength(seq.tokens, promptIds);
      if (shared > bestShared) {
        bestShared = shared;
        bestIndex = i;
      }
    });
    const empty = this.free.findIndex((seq) => seq.tokens.length === 0);
    if (bestShared < MIN_USEFUL_SHARED_PREFIX && empty >= 0) bestIndex = empty;
    return this.free.splice(bestIndex, 1)[0]!;
  }

  release(seq: S): void {
    this.free.push(seq);
    this.waiters.shift()?.();
  }

  /**
   * Hold a sequence chosen for `promptIds` while `work` runs. A failed `work` may leave the sequence in an unknown
   * state: `reset` empties it before it goes back to the pool.
   */
  async use<T>(
    promptIds: readonly number[],
    work: (seq: S) => Promise<T>,
    reset: (seq: S) => Promise<void>,
  ): Promise<T> {
    const seq = await this.acquire(promptIds);
    try {
      return await work(seq);
    } catch (error) {
      await reset(seq).catch(() => undefined);
      throw error;
    } finally {
      this.release(seq);
    }
  }
}
