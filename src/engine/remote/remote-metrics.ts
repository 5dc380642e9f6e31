/**
 * Prometheus metrics of the remote-engine pools, per pool (`gen`, `stream`) and backend. One set per registry: a
 * server passes its own registry, so its `/metrics` carries them; a library user reads `pool.metricsRegistry`.
 */
import { Counter, Gauge, Histogram, Registry } from "prom-client";

export class RemoteMetrics {
  readonly requests: Counter<"pool" | "backend" | "outcome">;
  readonly seconds: Histogram<"pool" | "backend">;
  readonly retries: Counter<"pool" | "backend">;
  readonly outstanding: Gauge<"pool" | "backend">;
  readonly up: Gauge<"pool" | "backend">;
  readonly circuit: Gauge<"pool" | "backend">;
  readonly healthChecks: Counter<"pool" | "backend" | "outcome">;
  readonly tokens: Counter<"pool" | "backend" | "direction">;

  private constructor(readonly registry: Registry) {
    const registers = [registry];
    const labelNames = ["pool", "backend"] as const;
    this.requests = new Counter({
      name: "qwen3guard_remote_requests_total",
      help: "Requests to remote engines by pool, backend and outcome (ok, http_error, network, timeout, protocol, aborted)",
      labelNames: ["pool", "backend", "outcome"] as const,
      registers,
    });
    this.seconds = new Histogram({
      name: "qwen3guard_remote_request_duration_seconds",
      help: "Time from sending a request to a remote engine to its whole answer, by pool and backend",
      labelNames,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    this.retries = new Counter({
      name: "qwen3guard_remote_retries_total",
      help: "Attempts made again after a retryable failure, by pool and the backend that failed",
      labelNames,
      registers,
    });
    this.outstanding = new Gauge({
      name: "qwen3guard_remote_outstanding_requests",
      help: "Requests in flight to each backend",
      labelNames,
      registers,
    });
    this.up = new Gauge({
      name: "qwen3guard_remote_backend_up",
      help: "1 when the backend's last health check passed (or none was made), else 0",
      labelNames,
      registers,
    });
    this.circuit = new Gauge({
      name: "qwen3guard_remote_circuit_state",
      help: "Circuit breaker of each backend: 0 closed, 1 half-open, 2 open",
      labelNames,
      registers,
    });
    this.healthChecks = new Counter({
      name: "qwen3guard_remote_health_checks_total",
      help: "Health checks by pool, backend and outcome (ok, failed)",
      labelNames: ["pool", "backend", "outcome"] as const,
      registers,
    });
    this.tokens = new Counter({
      name: "qwen3guard_remote_tokens_total",
      help: "Tokens sent to (prompt) and received from (generated) remote engines",
      labelNames: ["pool", "backend", "direction"] as const,
      registers,
    });
  }

  private static readonly byRegistry = new WeakMap<Registry, RemoteMetrics>();

  /** The metrics registered in `registry` (made on first use), or in a registry of their own. */
  static in(registry: Registry = new Registry()): RemoteMetrics {
    let metrics = RemoteMetrics.byRegistry.get(registry);
    if (!metrics) {
      metrics = new RemoteMetrics(registry);
      RemoteMetrics.byRegistry.set(registry, metrics);
    }
    return metrics;
  }
}
