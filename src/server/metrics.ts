/**
 * Prometheus metrics of one server (its own registry, so several servers in a process do not mix): requests by
 * route and status, verdicts by direction/tier/category/action, blocks, latency, tokens moderated, queue depth and
 * open Stream sessions, plus Node's default process metrics.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

export class ServerMetrics {
  readonly registry = new Registry();
  readonly requests = new Counter({
    name: "qwen3guard_http_requests_total",
    help: "HTTP requests by route and status code",
    labelNames: ["route", "status"] as const,
    registers: [this.registry],
  });
  readonly requestSeconds = new Histogram({
    name: "qwen3guard_http_request_duration_seconds",
    help: "Time from request to the last byte of the response, by route",
    labelNames: ["route"] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
    registers: [this.registry],
  });
  readonly verdicts = new Counter({
    name: "qwen3guard_verdicts_total",
    help: "Guard decisions by direction, tier, category and policy action",
    labelNames: ["direction", "tier", "category", "action"] as const,
    registers: [this.registry],
  });
  readonly blocked = new Counter({
    name: "qwen3guard_blocked_total",
    help: "Blocked prompts (never sent upstream) and streams (cut mid-answer), and regenerations",
    labelNames: ["kind"] as const,
    registers: [this.registry],
  });
  readonly guardSeconds = new Histogram({
    name: "qwen3guard_guard_latency_seconds",
    help: "Time the guard took for one decision, by direction and model (gen or stream)",
    labelNames: ["direction", "model"] as const,
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  readonly tokens = new Counter({
    name: "qwen3guard_moderated_tokens_total",
    help: "Tokens the guard judged (rate() of it is tokens moderated per second)",
    labelNames: ["model"] as const,
    registers: [this.registry],
  });
  readonly queueDepth = new Gauge({
    name: "qwen3guard_queue_depth",
    help: "Requests waiting for the engine",
    labelNames: ["model"] as const,
    registers: [this.registry],
  });
  readonly openSessions = new Gauge({
    name: "qwen3guard_stream_sessions_open",
    help: "Stream sessions open (proxy streams and WebSocket sessions)",
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: "qwen3guard_" });
  }

  /** The exposition text and its content type, for GET /metrics. */
  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
