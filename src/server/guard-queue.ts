/**
 * The bounded queue in front of a guard. At most `capacity` jobs run at once (the engine's sequences: Gen requests
 * or Stream sessions); the rest wait in FIFO order. A request whose jobs cannot all start at once is "waiting";
 * when `maxWaiting` requests already wait, a new one is refused at once with 429 and `Retry-After` instead of
 * queueing without bound.
 *
 * A running job keeps its slot until it settles, even when its request gave up (timeout, client gone): the engine
 * is still busy with it, so the bound stays true.
 */
import { HttpError } from "./http-errors.js";

interface Job {
  group: Group;
  start(): void;
}

interface Group {
  /** Jobs of the request not started yet. */
  queued: number;
  /** Counted among the waiting requests. */
  waiting: boolean;
}

export interface GuardQueueOptions {
  /** Jobs that may run at once. */
  capacity: number;
  /** Requests that may wait before the next one is refused (429). */
  maxWaiting: number;
  /** Told to the client with a 429. */
  retryAfterSeconds: number;
  /** Which guard, for messages ("Gen", "Stream"). */
  name: string;
  /** Called whenever the number of waiting requests changes (the queue-depth gauge). */
  onDepth?: (waitingRequests: number) => void;
}

export class GuardQueue {
  #running = 0;
  #waitingRequests = 0;
  readonly #jobs: Job[] = [];

  constructor(readonly options: GuardQueueOptions) {}

  /** Jobs running now. */
  get running(): number {
    return this.#running;
  }

  /** Requests waiting for a slot now. */
  get waiting(): number {
    return this.#waitingRequests;
  }

  /**
   * Run `tasks` (one request's jobs), at most `capacity` of all requests' jobs at once. Resolves with the results in
   * order; rejects with the first failure, or with `signal`'s reason when it aborts first (jobs not started are
   * then dropped).
   * @throws HttpError 429 (synchronously checked) when the queue is full.
   */
  run<T>(tasks: readonly (() => Promise<T>)[], signal?: AbortSignal): Promise<T[]> {
    if (tasks.length === 0) return Promise.resolve([]);
    try {
      this.#admit(tasks.length);
      signal?.throwIfAborted();
    } catch (error) {
      return Promise.reject(error);
    }
    return new Promise<T[]>((resolve, reject) => {
      const group: Group = { queued: tasks.length, waiting: false };
      const results = new Array<T>(tasks.length);
      let remaining = tasks.length;
      let finished = false;
      const onAbort = () => fail(signal!.reason);
      const fail = (error: unknown) => {
        if (finished) return;
        finished = true;
        signal?.removeEventListener("abort", onAbort);
        this.#drop(group);
        reject(error);
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      tasks.forEach((task, i) => {
        this.#jobs.push({
          group,
          start: () => {
            this.#running += 1;
            let promise: Promise<T>;
            try {
              promise = task();
            } catch (error) {
              promise = Promise.reject(error);
            }
            promise
              .then(
                (value) => {
                  results[i] = value;
                  remaining -= 1;
                  if (remaining === 0 && !finished) {
                    finished = true;
                    signal?.removeEventListener("abort", onAbort);
                    resolve(results);
                  }
                },
                (error: unknown) => fail(error),
              )
              .finally(() => {
                this.#running -= 1;
                this.#pump();
              });
          },
        });
      });
      this.#pump();
      if (group.queued > 0) this.#setWaiting(group, true);
    });
  }

  /**
   * Take one slot until the returned function is called (a Stream session held open). Waits like `run`.
   * @throws HttpError 429 when the queue is full; `signal`'s reason when it aborts while waiting.
   */
  hold(signal?: AbortSignal): Promise<() => void> {
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    return new Promise<() => void>((resolve, reject) => {
      let started = false;
      this.run(
        [
          async () => {
            started = true;
            let once = false;
            resolve(() => {
              if (once) return;
              once = true;
              release();
            });
            await released;
          },
        ],
        signal,
      ).catch((error: unknown) => {
        if (!started) reject(error);
      });
    });
  }

  #admit(jobs: number): void {
    const mustWait = this.#jobs.length > 0 || this.#running + jobs > this.options.capacity;
    if (mustWait && this.#waitingRequests >= this.options.maxWaiting) {
      const { name, retryAfterSeconds, maxWaiting } = this.options;
      throw new HttpError(
        429,
        "QUEUE_FULL",
        `the ${name} guard is busy: ${maxWaiting} request(s) are already waiting; retry after ${retryAfterSeconds} s`,
        { type: "rate_limit_error", retryAfterSeconds },
      );
    }
  }

  #pump(): void {
    while (this.#running < this.options.capacity && this.#jobs.length > 0) {
      const job = this.#jobs.shift()!;
      job.group.queued -= 1;
      if (job.group.queued === 0) this.#setWaiting(job.group, false);
      job.start();
    }
  }

  /** Remove a request's jobs that have not started. */
  #drop(group: Group): void {
    for (let i = this.#jobs.length - 1; i >= 0; i--)
      if (this.#jobs[i]!.group === group) this.#jobs.splice(i, 1);
    group.queued = 0;
    this.#setWaiting(group, false);
  }

  #setWaiting(group: Group, waiting: boolean): void {
    if (group.waiting === waiting) return;
    group.waiting = waiting;
    this.#waitingRequests += waiting ? 1 : -1;
    this.options.onDepth?.(this.#waitingRequests);
  }
}
