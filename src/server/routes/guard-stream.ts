/**
 * `GET /v1/guard/stream` (WebSocket): a Stream moderation session for clients that generate the answer themselves.
 *
 * Client → server (JSON text frames):
 *   {"type": "open", "messages": [...], "rule"?: "official"|"report", "mode"?: "strict"|"loose"}   first, once
 *   {"type": "text", "text": "…"}     a chunk of the answer (any size; re-tokenized incrementally)
 *   {"type": "tokens", "ids": [...]}  or Qwen3 token ids (a session takes one or the other)
 *   {"type": "end"}                   the answer is complete
 * Server → client:
 *   {"type": "prompt", "verdict", "decision"}          after open: the query heads and the tenant's policy
 *   {"type": "token", "verdict"}                       one per answer token, in order
 *   {"type": "trigger", "trigger", "decision"}         once, where the stop rule fired
 *   {"type": "end", "verdict", "decision", "reason"?}  the whole-answer verdict; the server then closes (1000;
 *                                                      1001 with reason "shutdown" when the server stops)
 *   {"type": "error", "code", "message"}               a bad message leaves the session usable; a failed guard,
 *                                                      a full queue or an idle session close it
 * Auth: the API key in the upgrade request's Authorization header, like every /v1 route.
 */
import type { FastifyInstance, FastifyRequest } from "fastify";
import type { WebSocket } from "ws";
import { z } from "zod";
import type { Direction } from "../../core/labels.js";
import type { StreamSession } from "../../guard/stream-session.js";
import type { StreamAnswerVerdict, StreamEvent } from "../../guard/stream-types.js";
import { StreamSessionClosedError } from "../../guard/stream-errors.js";
import {
  decideFor,
  guardFailure,
  recordDecisions,
  type Judgement,
  type PolicyVerdict,
} from "../decisions.js";
import { HttpError } from "../http-errors.js";
import type { ServerRuntime } from "../runtime.js";
import { checkContentChars, messagesSchema, parseOrThrow } from "../validate.js";

export const GUARD_STREAM_ROUTE = "/v1/guard/stream";

/** Close codes (RFC 6455 §7.4.1). */
const CLOSE = { normal: 1000, goingAway: 1001, policy: 1008, error: 1011, tryLater: 1013 } as const;

/** Messages a client may have in flight (received, not yet handled) before it is cut off. */
const MAX_PENDING_MESSAGES = 1024;

const typeSchema = z.looseObject({
  type: z.enum(["open", "text", "tokens", "end"], {
    error: 'expected type "open", "text", "tokens" or "end"',
  }),
});

function schemas(maxMessages: number) {
  return {
    open: z
      .object({
        type: z.literal("open"),
        messages: messagesSchema(maxMessages),
        rule: z.enum(["official", "report"], { error: 'expected "official" or "report"' }).optional(),
        mode: z.enum(["strict", "loose"], { error: 'expected "strict" or "loose"' }).optional(),
      })
      .strict(),
    text: z.object({ type: z.literal("text"), text: z.string({ error: "expected a string" }) }).strict(),
    tokens: z
      .object({
        type: z.literal("tokens"),
        ids: z.array(z.number().int().nonnegative(), { error: "expected an array of token ids" }),
      })
      .strict(),
    end: z.object({ type: z.literal("end") }).strict(),
  };
}

type Frame = Record<string, unknown> & { type: string };

export function registerGuardStreamRoute(app: FastifyInstance, runtime: ServerRuntime): void {
  const limits = runtime.config.limits;
  const parsers = schemas(limits.messages);

  app.get(
    GUARD_STREAM_ROUTE,
    {
      websocket: true,
      // refused before the upgrade, as a plain HTTP error
      preHandler: async () => {
        if (runtime.stream === undefined) {
          throw new HttpError(400, "MODEL_NOT_LOADED", "the Stream model is not loaded on this server");
        }
        if (runtime.draining) {
          throw new HttpError(503, "SERVER_SHUTTING_DOWN", "the server is shutting down", {
            type: "server_error",
          });
        }
      },
    },
    (socket, request) => {
      new GuardStreamConnection(runtime, socket, request, parsers).start();
    },
  );
}

class GuardStreamConnection {
  #session: StreamSession | undefined;
  #release: (() => void) | undefined;
  #state: "new" | "opening" | "open" | "ending" | "closed" = "new";
  #chain: Promise<void> = Promise.resolve();
  #pending = 0;
  #idle: NodeJS.Timeout | undefined;
  #shutdown = false;
  #answer = "";
  #answerIds: number[] = [];
  #lastInputAt = 0;
  #endAt = 0;
  #resolveDone!: () => void;
  readonly #done = new Promise<void>((resolve) => (this.#resolveDone = resolve));
  readonly #opening = new AbortController();

  constructor(
    private readonly runtime: ServerRuntime,
    private readonly socket: WebSocket,
    private readonly request: FastifyRequest,
    private readonly parsers: ReturnType<typeof schemas>,
  ) {}

  start(): void {
    const { socket } = this;
    this.runtime.track({ end: () => this.#endForShutdown(), done: this.#done });
    socket.on("message", (data, isBinary) => {
      this.#touch();
      if (isBinary) {
        this.#sendError(new HttpError(400, "BAD_REQUEST", "expected JSON text frames, not binary"));
        return;
      }
      if (++this.#pending > MAX_PENDING_MESSAGES) {
        this.#sendError(
          new HttpError(429, "SESSION_BACKLOG_FULL", `more than ${MAX_PENDING_MESSAGES} messages waiting`),
        );
        this.#close(CLOSE.policy, "too many messages in flight");
        return;
      }
      const text = Buffer.isBuffer(data)
        ? data.toString("utf8")
        : Buffer.concat(data as Buffer[]).toString("utf8");
      this.#chain = this.#chain
        .then(() => this.#handle(text))
        .catch((error: unknown) => this.#fail(error))
        .finally(() => {
          this.#pending -= 1;
        });
    });
    socket.on("close", () => void this.#cleanup());
    socket.on("error", () => void this.#cleanup());
    this.#touch();
  }

  /** Whether the socket is gone (state changes across awaits: a method, so TypeScript does not narrow it). */
  #closed(): boolean {
    return this.#state === "closed";
  }

  /** Restart the idle timer. */
  #touch(): void {
    clearTimeout(this.#idle);
    if (this.#state === "closed") return;
    this.#idle = setTimeout(() => {
      // the server is the one working (a slot to wait for, a prompt to evaluate, an end to flush)
      if (this.#state === "opening" || this.#state === "ending") return this.#touch();
      this.#sendError(
        new HttpError(
          408,
          "IDLE_TIMEOUT",
          `no message for ${this.runtime.config.limits.streamIdleSeconds} s (limits.streamIdleSeconds): session closed`,
        ),
      );
      this.#close(CLOSE.normal, "idle timeout");
    }, this.runtime.config.limits.streamIdleSeconds * 1000);
    this.#idle.unref();
  }

  async #handle(raw: string): Promise<void> {
    if (this.#state === "closed") return;
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch {
      this.#sendError(new HttpError(400, "INVALID_JSON", "the message is not valid JSON"));
      return;
    }
    let type: "open" | "text" | "tokens" | "end";
    try {
      type = parseOrThrow(typeSchema, value).type;
    } catch (error) {
      this.#sendError(error);
      return;
    }
    switch (type) {
      case "open":
        return this.#open(value);
      case "text":
      case "tokens":
        return this.#push(type, value);
      case "end":
        return this.#end(value);
    }
  }

  async #open(value: unknown): Promise<void> {
    if (this.#state !== "new") {
      this.#sendError(new HttpError(400, "BAD_REQUEST", "type: the session is already open"));
      return;
    }
    let message: z.infer<ReturnType<typeof schemas>["open"]>;
    try {
      message = parseOrThrow(this.parsers.open, value);
      checkContentChars(
        message.messages.map((m) => m.content),
        this.runtime.config.limits.contentChars,
        "messages",
      );
    } catch (error) {
      this.#sendError(error);
      return;
    }
    if (this.runtime.draining) {
      this.#sendError(new HttpError(503, "SERVER_SHUTTING_DOWN", "the server is shutting down"));
      this.#close(CLOSE.goingAway, "server shutting down");
      return;
    }
    this.#state = "opening";
    const tenant = this.request.tenant;
    const policy = this.runtime.policyFor(tenant);
    const started = performance.now();
    let session: StreamSession;
    // waiting for a slot and evaluating the prompt: bounded like a request
    const signal = AbortSignal.any([
      this.#opening.signal,
      AbortSignal.timeout(this.runtime.config.limits.requestTimeoutMs),
    ]);
    try {
      this.#release = await this.runtime.queues.stream!.hold(signal);
      signal.throwIfAborted();
      session = await this.runtime.stream!.openStream(message.messages, {
        mode: message.mode ?? policy.mode,
        ...(message.rule ? { rule: message.rule } : {}),
        signal,
      });
    } catch (error) {
      this.#release?.();
      this.#release = undefined;
      if (this.#closed()) return;
      const http = guardFailure(error);
      this.#sendError(http);
      if (http.statusCode === 400) {
        this.#state = "new"; // the client may open again with a valid conversation
        return;
      }
      this.#close(http.statusCode === 429 ? CLOSE.tryLater : CLOSE.error, http.code);
      return;
    }
    if (this.#closed()) {
      // the client left while the prompt was evaluated
      await session.close().catch(() => undefined);
      this.#release?.();
      return;
    }
    this.#session = session;
    this.#state = "open";
    void this.#forward(session);
    const p = session.prompt;
    const verdict: PolicyVerdict = {
      direction: "prompt",
      tier: p.tier,
      categories: p.tier === "Safe" ? [] : [p.category],
      probabilities: p.probabilities,
    };
    const last = message.messages[message.messages.length - 1]!;
    const decision = this.#record(verdict, performance.now() - started, p.promptTokens, last.content);
    if (decision === undefined) return;
    this.#send({ type: "prompt", verdict: p, decision, rule: session.rule, mode: session.mode });
  }

  async #push(type: "text" | "tokens", value: unknown): Promise<void> {
    if (this.#state !== "open") {
      const why =
        this.#state === "new" || this.#state === "opening"
          ? 'send {"type": "open", "messages": [...]} first'
          : "the session was ended";
      this.#sendError(new HttpError(400, "BAD_REQUEST", `type: ${why}`));
      return;
    }
    const session = this.#session!;
    let pushed: Promise<unknown>;
    try {
      if (type === "text") {
        const { text } = parseOrThrow(this.parsers.text, value);
        this.#answer += text;
        this.#lastInputAt = performance.now();
        pushed = session.push(text);
      } else {
        const { ids } = parseOrThrow(this.parsers.tokens, value);
        this.#lastInputAt = performance.now();
        pushed = session.pushTokens(ids);
        this.#answerIds.push(...ids);
      }
    } catch (error) {
      this.#sendError(error);
      return;
    }
    // verdicts come through the session's events; a rejected push is reported here unless the session failed
    // (then the event stream reports it once and closes)
    pushed.catch((error: unknown) => {
      if (error instanceof StreamSessionClosedError && error.state === "failed") return;
      this.#sendError(error);
    });
  }

  async #end(value: unknown): Promise<void> {
    try {
      parseOrThrow(this.parsers.end, value);
    } catch (error) {
      this.#sendError(error);
      return;
    }
    if (this.#state !== "open") {
      this.#sendError(new HttpError(400, "BAD_REQUEST", "type: no open session to end"));
      return;
    }
    await this.#finish();
  }

  /** End the session: its final frame comes through #forward, which then closes the socket. */
  async #finish(): Promise<void> {
    this.#state = "ending";
    this.#endAt = performance.now();
    try {
      await this.#session!.end();
    } catch (error) {
      if (!(error instanceof StreamSessionClosedError && error.state === "failed")) this.#fail(error);
    }
  }

  /** Send the session's events as frames, in order; record the trigger and the final decision. */
  async #forward(session: StreamSession): Promise<void> {
    const m = this.runtime.metrics;
    try {
      for await (const event of session.events() as AsyncIterable<StreamEvent>) {
        if (event.type === "token") {
          m.tokens.inc({ model: "stream" });
          const { categoryProbabilities: _omit, trigger: _t, ...verdict } = event.verdict;
          this.#send({ type: "token", verdict });
        } else if (event.type === "trigger") {
          const t = event.trigger;
          const decision = this.#record(
            { direction: "response", tier: t.tier, categories: [t.category], probabilities: t.probabilities },
            performance.now() - this.#lastInputAt,
            0,
            this.#answerText(),
          );
          if (decision === undefined) return;
          if (decision.action === "block") m.blocked.inc({ kind: "stream" });
          this.#send({ type: "trigger", trigger: t, decision });
        } else {
          const decision = this.#record(
            answerVerdict(event.verdict),
            performance.now() - this.#endAt,
            this.#session?.tokenCount ?? 0,
            this.#answerText(),
          );
          if (decision === undefined) return;
          this.#send({
            type: "end",
            verdict: event.verdict,
            decision,
            ...(this.#shutdown ? { reason: "shutdown" } : {}),
          });
          this.#close(
            this.#shutdown ? CLOSE.goingAway : CLOSE.normal,
            this.#shutdown ? "server shutting down" : "done",
          );
        }
      }
    } catch (error) {
      this.#fail(error);
    }
  }

  #answerText(): string {
    return this.#answer !== "" ? this.#answer : JSON.stringify(this.#answerIds);
  }

  /** Decide with the tenant's policy and record (audit, metrics, log); undefined when the audit write failed. */
  #record(verdict: PolicyVerdict, latencyMs: number, tokens: number, text: string) {
    const tenant = this.request.tenant;
    const decision = decideFor(this.runtime, tenant, verdict);
    const judgement: Judgement = { ...verdict, model: "stream", decision, latencyMs, tokens, text };
    try {
      recordDecisions(this.runtime, this.request, GUARD_STREAM_ROUTE, [judgement]);
    } catch (error) {
      this.#fail(error);
      return undefined;
    }
    return decision;
  }

  /** The guard failed (or the decision could not be audited): report and close. */
  #fail(error: unknown): void {
    if (this.#state === "closed") return;
    const http = guardFailure(error);
    this.#sendError(http);
    this.#close(http.statusCode === 400 ? CLOSE.policy : CLOSE.error, http.code);
  }

  /** Server shutdown: end the session (its final verdict goes out with reason "shutdown"), or close. */
  #endForShutdown(): void {
    if (this.#state === "closed") return;
    this.#shutdown = true;
    if (this.#state === "open") {
      void this.#finish();
      // a final frame within a second, or the socket is closed anyway
      setTimeout(() => this.#close(CLOSE.goingAway, "server shutting down"), 1000).unref();
      return;
    }
    if (this.#state === "ending") return;
    this.#sendError(new HttpError(503, "SERVER_SHUTTING_DOWN", "the server is shutting down"));
    this.#close(CLOSE.goingAway, "server shutting down");
  }

  #send(frame: Frame): void {
    if (this.socket.readyState === this.socket.OPEN) this.socket.send(JSON.stringify(frame));
  }

  #sendError(error: unknown): void {
    const http = error instanceof HttpError ? error : guardFailure(error);
    if (http.statusCode >= 500)
      this.request.log.error({ err: error, tenant: this.request.tenant }, http.message);
    this.#send({
      type: "error",
      code: http.code,
      message: http.message,
      ...(http.details.param ? { param: http.details.param } : {}),
      ...(http.details.retryAfterSeconds !== undefined ? { retryAfter: http.details.retryAfterSeconds } : {}),
    });
  }

  #close(code: number, reason: string): void {
    if (this.socket.readyState === this.socket.OPEN || this.socket.readyState === this.socket.CONNECTING) {
      this.socket.close(code, reason.slice(0, 120));
    }
    void this.#cleanup();
  }

  /** The socket is gone (or going): free the session and the queue slot, once. */
  async #cleanup(): Promise<void> {
    if (this.#state === "closed") return;
    this.#state = "closed";
    clearTimeout(this.#idle);
    this.#opening.abort(new Error("the WebSocket closed"));
    const session = this.#session;
    this.#session = undefined;
    try {
      await session?.close();
    } catch (error) {
      this.request.log.warn({ err: error, tenant: this.request.tenant }, "closing a Stream session failed");
    } finally {
      this.#release?.();
      this.#release = undefined;
      // the socket may still be closing: the stream is done once both are
      if (this.socket.readyState === this.socket.CLOSED) this.#resolveDone();
      else {
        this.socket.once("close", () => this.#resolveDone());
        setTimeout(() => {
          this.socket.terminate();
          this.#resolveDone();
        }, 2000).unref();
      }
    }
  }
}

/** The whole-answer verdict in the terms a policy reads (a Safe answer carries no probabilities). */
function answerVerdict(v: StreamAnswerVerdict): PolicyVerdict {
  const direction: Direction = "response";
  return v.tier === "Safe"
    ? { direction, tier: "Safe", categories: [] }
    : { direction, tier: v.tier, categories: [v.category], probabilities: v.probabilities };
}
