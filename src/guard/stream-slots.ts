/** The pool of engine sequences, one per open Stream session. openStream waits for a free one, or throws. */
import { StreamCapacityError } from "./stream-errors.js";

export class StreamSlotPool {
  private readonly free: number[];
  private readonly waiters: { resolve: (seq: number) => void; reject: (e: unknown) => void }[] = [];

  constructor(readonly size: number) {
    this.free = Array.from({ length: size }, (_, i) => i);
  }

  get available(): number {
    return this.free.length;
  }

  get waiting(): number {
    return this.waiters.length;
  }

  /** A free sequence id; waits (FIFO) when none is free unless `wait` is false. */
  acquire(wait: boolean, signal?: AbortSignal): Promise<number> {
    const seq = this.free.shift();
    if (seq !== undefined) return Promise.resolve(seq);
    if (!wait) {
      return Promise.reject(
        new StreamCapacityError(
          `all ${this.size} Stream sessions are open: close one, load the guard with more sequences, or let openStream wait (whenFull: "wait")`,
        ),
      );
    }
    if (signal?.aborted)
      return Promise.reject(new StreamCapacityError("waiting for a free Stream session was aborted"));
    return new Promise<number>((resolve, reject) => {
      const waiter = {
        resolve: (s: number) => {
          signal?.removeEventListener("abort", onAbort);
          resolve(s);
        },
        reject,
      };
      const onAbort = () => {
        const i = this.waiters.indexOf(waiter);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(new StreamCapacityError("waiting for a free Stream session was aborted"));
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.waiters.push(waiter);
    });
  }

  release(seq: number): void {
    const next = this.waiters.shift();
    if (next) next.resolve(seq);
    else this.free.push(seq);
  }

  /** Reject every waiter (the guard is closing). */
  rejectAll(error: unknown): void {
    for (const w of this.waiters.splice(0)) w.reject(error);
  }
}
