/**
 * One queue for every llama.cpp decode of the process. ggml's CPU threads spin at barriers: two decodes at once on
 * a 2-core machine means 4 spinning threads and a collapse in throughput (docs/engine.md). Every engine that
 * runs llama.cpp work (this binding, and node-llama-cpp evaluations if they opt in) goes through
 * `llamaDecodeQueue.run(...)`, which starts a task only when the previous one has settled.
 */
export class DecodeQueue {
  private tail: Promise<unknown> = Promise.resolve();
  private active = 0;
  private waiting = 0;
  private maxActive = 0;
  private completed = 0;

  /** Run `task` after every task queued before it has settled; resolves/rejects with the task's result. */
  run<T>(task: () => Promise<T> | T): Promise<T> {
    this.waiting++;
    const result = this.tail.then(async () => {
      this.waiting--;
      this.active++;
      this.maxActive = Math.max(this.maxActive, this.active);
      try {
        return await task();
      } finally {
        this.active--;
        this.completed++;
      }
    });
    // the chain continues whether the task failed or not
    this.tail = result.catch(() => undefined);
    return result;
  }

  /** Tasks running now (0 or 1). */
  get running(): number {
    return this.active;
  }

  /** Tasks queued and not yet started. */
  get pending(): number {
    return this.waiting;
  }

  /** The most tasks ever seen running at once (instrumentation: must stay 1). */
  get maxConcurrency(): number {
    return this.maxActive;
  }

  /** Tasks that have settled. */
  get settled(): number {
    return this.completed;
  }

  /** Resolves when every task queued so far has settled. */
  async idle(): Promise<void> {
    await this.tail;
  }
}

/** The process-wide decode queue. */
export const llamaDecodeQueue = new DecodeQueue();
