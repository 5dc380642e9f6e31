/**
 * What every guard endpoint does with a decision: apply the tenant's policy, then — before the response is sent —
 * write the audit rows (synchronously), count the metrics and log one line per decision with the request id and
 * the tenant. And the fail-closed rule: a guard that errors or does not answer in time refuses the request
 * (503), it never answers "safe".
 */
import type { FastifyBaseLogger } from "fastify";
import type { Category, Direction, RiskTier } from "../core/labels.js";
import { decide, type Decision } from "../core/policy/index.js";
import { Qwen3GuardError } from "../core/errors.js";
import type { TierProbabilities } from "../core/verdict.js";
import { HttpError, toHttpError } from "./http-errors.js";
import { DEMO_LABEL, type ServerRuntime } from "./runtime.js";

/** Who asked: enough of a Fastify request to log and audit a decision. */
export interface DecisionContext {
  /** The request id (Fastify's, or the client's x-request-id). */
  id: string;
  tenant: string;
  log: FastifyBaseLogger;
}

/** A verdict in the terms a policy reads. */
export interface PolicyVerdict {
  direction: Direction;
  tier: RiskTier;
  categories: readonly string[];
  probabilities?: TierProbabilities | undefined;
}

/** One decision of an endpoint, ready to be recorded. */
export interface Judgement extends PolicyVerdict {
  model: "gen" | "stream";
  decision: Decision;
  /** Time the guard took for this decision. */
  latencyMs: number;
  /** Tokens the model read for it. */
  tokens: number;
  /** The moderated text (audited as its SHA-256 unless the log keeps text). */
  text: string;
}

/** Apply the tenant's policy in force now. Category names outside Qwen3Guard's list reach only `default` rules. */
export function decideFor(runtime: ServerRuntime, tenant: string, verdict: PolicyVerdict): Decision {
  return decide(runtime.policyFor(tenant), {
    direction: verdict.direction,
    tier: verdict.tier,
    categories: verdict.categories as Category[],
    ...(verdict.probabilities ? { probabilities: verdict.probabilities } : {}),
  });
}

/** Error codes of the guard that the client caused (bad conversation, too long): not a guard failure. */
const CLIENT_CODES = new Set([
  "INVALID_CONVERSATION",
  "CONTEXT_OVERFLOW",
  "STREAM_CONTEXT_FULL",
  "STREAM_INPUT_INVALID",
  "REMOTE_INPUT_REFUSED",
]);

/**
 * What a client is told when a guard call failed: its own error when it caused it (400) or when the server is
 * busy (429), else 503 GUARD_FAILED (or GUARD_TIMEOUT): fail closed, never "safe".
 */
export function guardFailure(error: unknown): HttpError {
  if (error instanceof HttpError) return error;
  if (error instanceof Qwen3GuardError && (CLIENT_CODES.has(error.code) || error.code === "STREAM_CAPACITY"))
    return toHttpError(error);
  if (error instanceof Error && error.name === "TimeoutError") {
    return new HttpError(
      503,
      "GUARD_TIMEOUT",
      "the guard did not decide within limits.requestTimeoutMs, so the request was refused",
      { type: "server_error", cause: error },
    );
  }
  const why = error instanceof Error ? error.message : String(error);
  return new HttpError(503, "GUARD_FAILED", `the guard failed, so the request was refused: ${why}`, {
    type: "server_error",
    cause: error,
  });
}

/**
 * An AbortSignal for one request's guard work: aborts after `limits.requestTimeoutMs`, or when the client goes
 * away before its response is sent.
 */
export function requestSignal(
  runtime: ServerRuntime,
  response: { once(event: "close", listener: () => void): unknown; writableFinished: boolean },
): AbortSignal {
  const gone = new AbortController();
  response.once("close", () => {
    if (!response.writableFinished) gone.abort(new Error("the client closed the connection"));
  });
  return AbortSignal.any([AbortSignal.timeout(runtime.config.limits.requestTimeoutMs), gone.signal]);
}

/**
 * Record decisions before the response that depends on them is sent: the audit rows first (one transaction,
 * committed when this returns), then metrics and one log line per decision.
 * @throws HttpError 503 AUDIT_LOG_FAILED when the audit log cannot be written (the response must not go out).
 */
export function recordDecisions(
  runtime: ServerRuntime,
  context: DecisionContext,
  route: string,
  judgements: readonly Judgement[],
): void {
  if (judgements.length === 0) return;
  const synthetic = runtime.synthetic
    ? runtime.config.demo
      ? DEMO_LABEL
      : `${runtime.synthetic} weights`
    : undefined;
  if (runtime.audit) {
    const time = new Date().toISOString();
    try {
      runtime.audit.recordAll(
        judgements.map((j) => ({
          time,
          requestId: context.id,
          tenant: context.tenant,
          route,
          direction: j.direction,
          model: j.model,
          tier: j.tier,
          categories: [...j.categories],
          probabilities: j.probabilities,
          action: j.decision.action,
          reasons: j.decision.reasons,
          latencyMs: j.latencyMs,
          text: j.text,
          synthetic,
        })),
      );
    } catch (error) {
      context.log.error({ err: error, tenant: context.tenant }, "audit log write failed");
      throw new HttpError(
        503,
        "AUDIT_LOG_FAILED",
        "the decision could not be written to the audit log, so the request was refused",
        { type: "server_error", cause: error },
      );
    }
  }
  const m = runtime.metrics;
  for (const j of judgements) {
    const category = j.decision.category ?? j.categories[0] ?? "None";
    m.verdicts.inc({ direction: j.direction, tier: j.tier, category, action: j.decision.action });
    if (j.direction === "prompt" && j.decision.action === "block") m.blocked.inc({ kind: "prompt" });
    m.guardSeconds.observe({ direction: j.direction, model: j.model }, j.latencyMs / 1000);
    if (j.tokens > 0) m.tokens.inc({ model: j.model }, j.tokens);
    context.log.info(
      {
        tenant: context.tenant,
        route,
        decision: {
          model: j.model,
          direction: j.direction,
          tier: j.tier,
          categories: j.categories,
          action: j.decision.action,
          latencyMs: Math.round(j.latencyMs * 10) / 10,
        },
      },
      `guard decision: ${j.direction} ${j.tier} → ${j.decision.action}`,
    );
  }
}
