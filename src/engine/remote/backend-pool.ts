/**
 * A pool of engine servers behind one guard: least-outstanding-requests routing, a per-attempt deadline, retries
 * with exponential backoff (on another backend when one can take the request), a circuit breaker per backend,
 * periodic health checks, a FIFO wait when every backend is at its `maxOutstanding`, and Prometheus metrics.
 *
 * Every request the guards send is idempotent (inference with greedy decoding, no state kept between requests),
 * so any retryable failure — a refused or reset connection, a timeout, 408/425/429/5xx — may be retried.
 *
 * Circuit breaker, per backend: `breakerFailures` consecutive failed attempts open it; while open the backend
 * gets no request; after `breakerCooldownMs` one trial request is let through (half-open): success closes it,
 * failure opens it again. A 4xx other than 408/425/429 is the request's fault, not the backend's: it neither
 * counts nor is retried.
 */
import { RemoteEngineError, RemoteUnavailableError, isRetryable } from "./remote-errors.js";
import { RemoteMetrics } from "./remote-metrics.js";
import type { ResolvedRemoteBackend, ResolvedRemoteOptions } from "./remote-options.js";

/** What the pool needs from a backend's client. */
export interface PoolClient {
  readonly backend: ResolvedRemoteBackend;
  /** Resolves when the server says it is ready; rejects otherwise. */
  health(options: { signal: AbortSignal; timeoutMs: number }): Promise<void>;
}

export type CircuitState = "closed" | "half-open" | "open";

/** A snapshot of one backend's state, for `stats()` and error messages. */
export interface BackendState {
  name: string;
  kind: ResolvedRemoteBackend["kind"];
  url: string;
  /** The last health check passed (or none was made yet). */
  up: boolean;
  circuit: CircuitState;
  outstanding: number;
  /** Attempts sent, succeeded, failed (retryable or not). */
  requests: number;
  succeeded: number;
  failed: number;
  lastError: string | undefined;
}

/** What one `run` did: the value, the backend that produced it, and how many attempts it took. */
export interface PoolResult<T> {
  value: T;
  backend: ResolvedRemoteBackend;
  attempts: number;
}

/** One attempt's context, handed to the work function. */
export interface Attempt {
  signal: AbortSignal | undefined;
  timeoutMs: number;
  /** 1 for the first attempt. */
  number: number;
}

interface Slot<C> {
  client: C;
  outstanding: number;
  consecutiveFailures: number;
  circuit: CircuitState;
  openedAt: number;
  trialInFlight: boolean;
  up: boolean;
  requests: number;
  succeeded: number;
  failed: number;
  lastError: string | undefined;
  lastPicked: number;
}

interface Waiter {
  resolve: () => void;
  reject: (error: unknown) => void;
}

const CIRCUIT_VALUE: Record<CircuitState, number> = { closed: 0, "half-open": 1, open: 2 };

export class BackendPool<C extends PoolClient> {
  readonly metrics: RemoteMetrics;
  private readonly slots: Slot<C>[];
  private readonly waiters: Waiter[] = [];
  private healthTimer: NodeJS.Timeout | undefined;
  private closed = false;
  private picks = 0;

  constructor(
    /** `gen` or `stream`: the `pool` label of the metrics. */
    readonly name: string,
    clients: readonly C[],
    readonly options: ResolvedRemoteOptions,
    private readonly warn: (message: string) => void = () => undefined,
    /** Clock (tests). */
    private readonly now: () => number = () => performance.now(),
  ) {
    this.metrics = RemoteMetrics.in(options.registry);
    this.slots = clients.map((client) => ({
      client,
      outstanding: 0,
      consecutiveFailures: 0,
      circuit: "closed",
      openedAt: 0,
      trialInFlight: false,
      up: true,
      requests: 0,
      succeeded: 0,
      failed: 0,
      lastError: undefined,
      lastPicked: -1,
    }));
    for (const s of this.slots) {
      const labels = this.labels(s);
      this.metrics.outstanding.set(labels, 0);
      this.metrics.up.set(labels, 1);
      this.metrics.circuit.set(labels, 0);
    }
  }

  /** The registry holding this pool's metrics. */
  get metricsRegistry() {
    return this.metrics.registry;
  }

  /** The clients, in configuration order. */
  get clients(): C[] {
    return this.slots.map((s) => s.client);
  }

  /** Start polling health endpoints (the first round at once). No-op when `healthIntervalMs` is 0. */
  startHealthChecks(): void {
    if (this.options.healthIntervalMs === 0 || this.healthTimer || this.closed) return;
    void this.checkHealth();
    this.healthTimer = setInterval(() => void this.checkHealth(), this.options.healthIntervalMs);
    this.healthTimer.unref();
  }

  /** One round of health checks (all backends at once). */
  async checkHealth(): Promise<void> {
    const timeoutMs = Math.min(this.options.timeoutMs, 5000);
    await Promise.all(
      this.slots.map(async (s) => {
        let ok = true;
        let why = "";
        try {
          await s.client.health({ signal: AbortSignal.timeout(timeoutMs), timeoutMs });
        } catch (error) {
          ok = false;
          why = error instanceof Error ? error.message : String(error);
        }
        if (this.closed) return;
        this.metrics.healthChecks.inc({ ...this.labels(s), outcome: ok ? "ok" : "failed" });
        if (ok !== s.up) {
          this.warn(
            ok
              ? `remote ${this.name} backend ${s.client.backend.name} is up again`
              : `remote ${this.name} backend ${s.client.backend.name} failed its health check, no requests go to it: ${why}`,
          );
        }
        s.up = ok;
        if (!ok) s.lastError = why;
        this.metrics.up.set(this.labels(s), ok ? 1 : 0);
        if (ok) this.wake();
      }),
    );
  }

  /** Each backend's state now. */
  stats(): BackendState[] {
    return this.slots.map((s) => ({
      name: s.client.backend.name,
      kind: s.client.backend.kind,
      url: s.client.backend.url,
      up: s.up,
      circuit: this.circuitOf(s),
      outstanding: s.outstanding,
      requests: s.requests,
      succeeded: s.succeeded,
      failed: s.failed,
      lastError: s.lastError,
    }));
  }

  /**
   * Run `work` on a backend, retrying retryable failures. `eligible` narrows the backends that may take this
   * request (e.g. only those that take token ids).
   * @throws RemoteUnavailableError when no backend can take it, or when retries are spent (every attempt listed,
   *         the last one's error as `cause`); with `retries: 0` the one attempt's own error; a non-retryable error
   *         at once.
   */
  async run<T>(
    work: (client: C, attempt: Attempt) => Promise<T>,
    options: { signal?: AbortSignal | undefined; eligible?: (client: C) => boolean } = {},
  ): Promise<PoolResult<T>> {
    const attempts: string[] = [];
    const failedOn = new Set<Slot<C>>();
    const maxAttempts = 1 + this.options.retries;
    for (let number = 1; ; number++) {
      const slot = await this.acquire(options.eligible, failedOn, options.signal, attempts);
      const labels = this.labels(slot);
      const started = this.now();
      let value: T;
      try {
        value = await work(slot.client, {
          signal: options.signal,
          timeoutMs: this.options.timeoutMs,
          number,
        });
      } catch (error) {
        this.release(slot, started);
        if (options.signal?.aborted) {
          this.metrics.requests.inc({ ...labels, outcome: "aborted" });
          this.settleTrial(slot);
          throw error;
        }
        const message = error instanceof Error ? error.message : String(error);
        this.metrics.requests.inc({ ...labels, outcome: outcomeOf(error) });
        const requestsFault =
          error instanceof RemoteEngineError && error.status !== undefined && !error.retryable;
        if (requestsFault) this.settleTrial(slot);
        else this.fail(slot, message);
        attempts.push(`${slot.client.backend.name}: ${message}`);
        if (!isRetryable(error)) throw error;
        failedOn.add(slot);
        if (number >= maxAttempts) {
          // no retries configured: the attempt's own error (a timeout stays a RemoteTimeoutError)
          if (maxAttempts === 1) throw error;
          throw new RemoteUnavailableError(
            `remote ${this.name}: ${number} attempt(s) failed: ${attempts.join("; ")}`,
            attempts,
            { cause: error },
          );
        }
        this.metrics.retries.inc(labels);
        await sleep(this.backoff(number), options.signal);
        continue;
      }
      this.release(slot, started);
      this.metrics.requests.inc({ ...labels, outcome: "ok" });
      this.succeed(slot);
      return { value, backend: slot.client.backend, attempts: number };
    }
  }

  private release(slot: Slot<C>, started: number): void {
    const labels = this.labels(slot);
    this.metrics.seconds.observe(labels, (this.now() - started) / 1000);
    slot.outstanding--;
    this.metrics.outstanding.set(labels, slot.outstanding);
    this.wake();
  }

  /** Stop health checks; waiting requests fail with RemoteUnavailableError. */
  close(): void {
    this.closed = true;
    clearInterval(this.healthTimer);
    this.healthTimer = undefined;
    for (const w of this.waiters.splice(0)) {
      w.reject(new RemoteUnavailableError(`remote ${this.name}: the guard was closed`));
    }
  }

  private labels(s: Slot<C>): { pool: string; backend: string } {
    return { pool: this.name, backend: s.client.backend.name };
  }

  /** The circuit as it stands now (an open one whose cooldown ended is half-open). */
  private circuitOf(s: Slot<C>): CircuitState {
    if (s.circuit === "open" && this.now() - s.openedAt >= this.options.breakerCooldownMs) return "half-open";
    return s.circuit;
  }

  /** Whether a backend may take a request now (ignoring its outstanding count). */
  private admits(s: Slot<C>): boolean {
    if (!s.up) return false;
    const circuit = this.circuitOf(s);
    return circuit === "closed" || (circuit === "half-open" && !s.trialInFlight);
  }

  private async acquire(
    eligible: ((client: C) => boolean) | undefined,
    failedOn: ReadonlySet<Slot<C>>,
    signal: AbortSignal | undefined,
    attempts: readonly string[],
  ): Promise<Slot<C>> {
    for (;;) {
      if (this.closed) throw new RemoteUnavailableError(`remote ${this.name}: the guard was closed`);
      if (signal?.aborted) throw signal.reason;
      const candidates = this.slots.filter(
        (s) => (eligible === undefined || eligible(s.client)) && this.admits(s),
      );
      if (candidates.length === 0) {
        const states = this.stats()
          .map((b) => `${b.name} (${b.up ? "up" : "down"}, circuit ${b.circuit})`)
          .join(", ");
        throw new RemoteUnavailableError(
          `remote ${this.name}: no backend can take the request: ${states}` +
            (attempts.length > 0 ? `; attempts: ${attempts.join("; ")}` : ""),
          attempts,
        );
      }
      // prefer backends this request has not failed on
      const fresh = candidates.filter((s) => !failedOn.has(s));
      const pool = (fresh.length > 0 ? fresh : candidates).filter(
        (s) => s.outstanding < s.client.backend.maxOutstanding,
      );
      if (pool.length > 0) {
        let best = pool[0]!;
        for (const s of pool) {
          if (
            s.outstanding < best.outstanding ||
            (s.outstanding === best.outstanding && s.lastPicked < best.lastPicked)
          ) {
            best = s;
          }
        }
        best.outstanding++;
        best.requests++;
        best.lastPicked = ++this.picks;
        if (this.circuitOf(best) === "half-open") {
          best.circuit = "half-open";
          best.trialInFlight = true;
          this.metrics.circuit.set(this.labels(best), CIRCUIT_VALUE["half-open"]);
        }
        this.metrics.outstanding.set(this.labels(best), best.outstanding);
        return best;
      }
      // every backend that may take it is full: wait for a release (first come first served)
      await new Promise<void>((resolve, reject) => {
        const waiter: Waiter = { resolve, reject };
        this.waiters.push(waiter);
        signal?.addEventListener(
          "abort",
          () => {
            const i = this.waiters.indexOf(waiter);
            if (i >= 0) this.waiters.splice(i, 1);
            reject(signal.reason);
          },
          { once: true },
        );
      });
    }
  }

  private wake(): void {
    // each waiter re-checks; the first one in line goes first
    const waiter = this.waiters.shift();
    waiter?.resolve();
  }

  private succeed(s: Slot<C>): void {
    s.succeeded++;
    s.consecutiveFailures = 0;
    s.trialInFlight = false;
    if (s.circuit !== "closed") {
      this.warn(`remote ${this.name} backend ${s.client.backend.name}: circuit closed again`);
      s.circuit = "closed";
      this.metrics.circuit.set(this.labels(s), CIRCUIT_VALUE.closed);
    }
  }

  private settleTrial(s: Slot<C>): void {
    // the trial request ended without saying anything about the backend: let another one try
    if (s.trialInFlight) {
      s.trialInFlight = false;
      s.circuit = "open";
      s.openedAt = this.now() - this.options.breakerCooldownMs;
    }
  }

  private fail(s: Slot<C>, message: string): void {
    s.failed++;
    s.lastError = message;
    s.consecutiveFailures++;
    const wasTrial = s.trialInFlight;
    s.trialInFlight = false;
    if (wasTrial || s.consecutiveFailures >= this.options.breakerFailures) {
      if (s.circuit !== "open" || wasTrial) {
        this.warn(
          `remote ${this.name} backend ${s.client.backend.name}: circuit open for ${this.options.breakerCooldownMs} ms after ${s.consecutiveFailures} failure(s): ${message}`,
        );
      }
      s.circuit = "open";
      s.openedAt = this.now();
      this.metrics.circuit.set(this.labels(s), CIRCUIT_VALUE.open);
    }
  }

  private backoff(attempt: number): number {
    const base = Math.min(2000, this.options.backoffMs * 2 ** (attempt - 1));
    return base * (0.5 + Math.random());
  }
}

function outcomeOf(error: unknown): string {
  if (error instanceof RemoteEngineError) return error.status === undefined ? "network" : "http_error";
  const code = (error as { code?: unknown }).code;
  if (code === "REMOTE_TIMEOUT") return "timeout";
  if (code === "REMOTE_PROTOCOL") return "protocol";
  return "error";
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  if (ms <= 0) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener(
      "abort",
      () => {
        clearTimeout(timer);
        reject(signal.reason);
      },
      { once: true },
    );
  });
}
