/**
 * The moderating proxy behind `POST /v1/chat/completions`: the prompt is judged before the upstream is called,
 * the answer through `moderateTextStream` (the same core as the AI SDK middleware), and the client gets what
 * OpenAI would send — SSE chunks or one completion — with only the text the guard cleared. See docs/server.md.
 */
import { randomUUID } from "node:crypto";
import { PassThrough } from "node:stream";
import type { FastifyReply, FastifyRequest } from "fastify";
import type { Category, RefusalLabel, RiskTier } from "../../core/labels.js";
import { decide, type Decision, type Policy } from "../../core/policy/index.js";
import type { TierProbabilities } from "../../core/verdict.js";
import { Qwen3GuardError } from "../../core/errors.js";
import {
  moderateTextStream,
  type AnswerDecision,
  type ModeratedSource,
  type ModeratedSourceItem,
  type ModeratedStreamResult,
  type RegenerateRequest,
} from "../../guard/moderated-stream.js";
import type { StreamSession } from "../../guard/stream-session.js";
import { errorBody, HttpError, toHttpError } from "../http-errors.js";
import type { ServerRuntime, UpstreamSettings } from "../runtime.js";
import { completeChat, streamChat, type UpstreamChunk } from "../upstream/upstream-client.js";
import { continuationRequest, type ChatRequest } from "./chat-request.js";

const ROUTE = "/v1/chat/completions";

/** Codes of guard errors the client caused (they keep their status); any other guard failure is GUARD_FAILED. */
const CLIENT_CODES = new Set([
  "INVALID_CONVERSATION",
  "CONTEXT_OVERFLOW",
  "STREAM_CONTEXT_FULL",
  "STREAM_INPUT_INVALID",
  "STREAM_CAPACITY",
  "POLICY_UNKNOWN_TENANT",
]);

/** The client went away (its connection closed before the response ended). */
class ClientGone extends Error {}
/** The server is shutting down and ended the stream. */
class Shutdown extends Error {}

/** Fail closed: anything the guard throws refuses the request with GUARD_FAILED (client-caused errors excepted). */
function guardError(error: unknown, phase: "prompt" | "answer"): unknown {
  if (error instanceof HttpError || error instanceof ClientGone || error instanceof Shutdown) return error;
  if (phase === "prompt" && error instanceof Qwen3GuardError && CLIENT_CODES.has(error.code)) return error;
  const what = error instanceof Qwen3GuardError ? `${error.code}: ${error.message}` : String(error);
  return new HttpError(503, "GUARD_FAILED", `the guard failed, so the request was refused (${what})`, {
    type: "server_error",
    cause: error,
  });
}

/** One judged verdict, as the audit log, the metrics and the client's `qwen3guard` object see it. */
interface Judged {
  direction: "prompt" | "response";
  model: "stream" | "gen";
  tier: RiskTier;
  categories: string[];
  probabilities?: TierProbabilities | undefined;
  refusal?: RefusalLabel | undefined;
  decision: Decision;
  note?: string | undefined;
}

function fromAnswer(d: AnswerDecision): Judged {
  return {
    direction: "response",
    model: d.model,
    tier: d.tier,
    categories: d.categories,
    probabilities: d.probabilities,
    refusal: d.refusal,
    decision: d.decision,
    note: d.note,
  };
}

/** The `qwen3guard` object a client finds on a blocked, flagged or regenerated answer. */
function guardObject(runtime: ServerRuntime, main: Judged, others: Judged[], regenerations = 0) {
  const one = (j: Judged) => ({
    direction: j.direction,
    model: j.model,
    tier: j.tier,
    categories: j.categories,
    ...(j.probabilities ? { probabilities: j.probabilities } : {}),
    ...(j.refusal ? { refusal: j.refusal } : {}),
    action: j.decision.action,
    reasons: j.decision.reasons.map((r) => ({ rule: r.rule, decisive: r.decisive, message: r.message })),
    ...(j.note ? { note: j.note } : {}),
  });
  return {
    ...one(main),
    ...(regenerations > 0 ? { regenerations } : {}),
    ...(others.length > 0 ? { decisions: others.map(one) } : {}),
    ...(runtime.synthetic ? { synthetic: runtime.synthetic } : {}),
  };
}

/** Everything one request carries through its phases. */
class ProxyRequest {
  readonly abort = new AbortController();
  readonly policy: Policy;
  readonly upstream: UpstreamSettings;
  /** The prompt's judgement. */
  prompt: Judged | undefined;
  readonly created = Math.floor(Date.now() / 1000);
  /** Gives back the Stream queue's slot this request holds while its session is open (idempotent). */
  releaseSlot: () => void = () => undefined;

  constructor(
    readonly runtime: ServerRuntime,
    readonly request: FastifyRequest,
    readonly reply: FastifyReply,
    readonly chat: ChatRequest,
  ) {
    const upstream = runtime.upstream;
    if (upstream === undefined) {
      throw new HttpError(
        503,
        "UPSTREAM_NOT_CONFIGURED",
        "no upstream LLM is configured, so /v1/chat/completions cannot answer: start the server with --upstream-url " +
          "(or upstream.url in the configuration); /v1/moderations and /v1/guard/* work without one",
        { type: "server_error" },
      );
    }
    this.upstream = upstream;
    this.policy = runtime.policyFor(request.tenant);
    reply.raw.on("close", () => {
      if (!reply.raw.writableFinished) this.abort.abort(new ClientGone("the client closed the connection"));
    });
  }

  get signal(): AbortSignal {
    return this.abort.signal;
  }

  /** Write a decision to the audit log (synchronously: before the bytes that depend on it) and count it. */
  record(judged: Judged, text: string, latencyMs: number): void {
    const { runtime, request } = this;
    runtime.metrics.verdicts.inc({
      direction: judged.direction,
      tier: judged.tier,
      category: judged.categories[0] ?? "none",
      action: judged.decision.action,
    });
    runtime.audit?.record({
      time: new Date().toISOString(),
      requestId: request.id,
      tenant: request.tenant,
      route: ROUTE,
      direction: judged.direction,
      model: judged.model,
      tier: judged.tier,
      categories: judged.categories,
      probabilities: judged.probabilities,
      action: judged.decision.action,
      reasons: judged.note ? [...judged.decision.reasons, { note: judged.note }] : judged.decision.reasons,
      latencyMs,
      text,
      synthetic: runtime.synthetic,
    });
  }

  /**
   * The `qwen3guard` object of the answer, or undefined when there is nothing to say (the prompt and the answer
   * allowed, no regeneration): the answer's governing decision, or the prompt's flag, with the others beside it.
   */
  guardObjectFor(result: ModeratedStreamResult): ReturnType<typeof guardObject> | undefined {
    const answer = result.decisions.map(fromAnswer);
    const governing = result.decision.decision.action === "allow" ? undefined : fromAnswer(result.decision);
    const prompt = this.prompt && this.prompt.decision.action !== "allow" ? this.prompt : undefined;
    const main = governing ?? prompt;
    if (main === undefined) return undefined;
    const others = [
      ...(prompt && prompt !== main ? [prompt] : []),
      ...answer.filter((_, i) => result.decisions[i] !== result.decision),
    ];
    return guardObject(this.runtime, main, others, result.regenerations);
  }
}

/**
 * Judge the prompt: Stream's query heads when a Stream model is loaded (the session is then kept for the answer),
 * else Gen prompt moderation; the tenant's policy decides.
 */
async function judgePrompt(p: ProxyRequest): Promise<{ judged: Judged; session?: StreamSession }> {
  const { runtime, chat } = p;
  const started = performance.now();
  let judged: Judged;
  let session: StreamSession | undefined;
  let tokens = 0;
  try {
    if (runtime.stream) {
      // the session's slot comes through the bounded queue: beyond its waiting room the request gets 429
      p.releaseSlot = await runtime.queues.stream!.hold(p.signal);
      session = await runtime.stream.openStream(chat.conversation, { signal: p.signal });
      const v = session.prompt;
      const categories = v.tier === "Safe" ? [] : [v.category];
      judged = {
        direction: "prompt",
        model: "stream",
        tier: v.tier,
        categories,
        probabilities: v.probabilities,
        decision: decide(p.policy, {
          direction: "prompt",
          tier: v.tier,
          categories: categories as Category[],
          probabilities: v.probabilities,
        }),
      };
      tokens = v.promptTokens;
    } else {
      const v = (
        await runtime.queues.gen!.run([() => runtime.gen!.moderate(chat.conversation)], p.signal)
      )[0]!;
      judged = {
        direction: "prompt",
        model: "gen",
        tier: v.tier,
        categories: [...v.categories],
        probabilities: v.probabilities,
        decision: decide(p.policy, v),
      };
      tokens = v.tokens?.prompt ?? 0;
    }
  } catch (error) {
    await session?.close().catch(() => undefined);
    throw guardError(error, "prompt");
  }
  const seconds = (performance.now() - started) / 1000;
  runtime.metrics.guardSeconds.observe({ direction: "prompt", model: judged.model }, seconds);
  runtime.metrics.tokens.inc({ model: judged.model }, tokens);
  try {
    p.record(judged, JSON.stringify(chat.conversation), seconds * 1000);
  } catch (error) {
    await session?.close().catch(() => undefined);
    throw error;
  }
  return { judged, ...(session ? { session } : {}) };
}

/** Serve one chat completion request (the body already parsed by parseChatRequest). */
export async function proxyChat(
  runtime: ServerRuntime,
  request: FastifyRequest,
  reply: FastifyReply,
  chat: ChatRequest,
): Promise<void> {
  const p = new ProxyRequest(runtime, request, reply, chat);
  try {
    await proxy(p);
  } catch (error) {
    p.releaseSlot();
    const reason = p.signal.aborted ? p.signal.reason : error;
    if (!(reason instanceof ClientGone)) throw error;
    request.log.info("the client closed the connection: the request was abandoned");
    // 499 (nginx's "client closed request"): for the logs and metrics; the client never sees it
    if (!reply.sent) void reply.status(499).send();
  } finally {
    p.releaseSlot(); // every session of the request is closed by now
  }
}

async function proxy(p: ProxyRequest): Promise<void> {
  const { runtime, chat } = p;
  const { judged, session } = await judgePrompt(p);
  p.prompt = judged;
  if (judged.decision.action === "block") {
    await session?.close();
    runtime.metrics.blocked.inc({ kind: "prompt" });
    return chat.stream ? refuseStream(p, judged) : refuseComplete(p, judged);
  }
  return chat.stream ? proxyStream(p, session) : proxyComplete(p, session);
}

// ---------------------------------------------------------------------------------------------------------------
// Refusals of a blocked prompt (the upstream is never called)

function refusalEnvelope(p: ProxyRequest) {
  return { id: `chatcmpl-${randomUUID()}`, created: p.created, model: p.chat.model };
}

const ZERO_USAGE = { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 };

function refuseComplete(p: ProxyRequest, judged: Judged): void {
  void p.reply.send({
    ...refusalEnvelope(p),
    object: "chat.completion",
    choices: [
      {
        index: 0,
        message: { role: "assistant", content: p.runtime.config.refusal.text, refusal: null },
        logprobs: null,
        finish_reason: "content_filter",
      },
    ],
    usage: ZERO_USAGE,
    qwen3guard: guardObject(p.runtime, judged, []),
  });
}

async function refuseStream(p: ProxyRequest, judged: Judged): Promise<void> {
  const sse = new SseWriter(p);
  const envelope = refusalEnvelope(p);
  await sse.chunk(envelope, { role: "assistant", content: "" });
  await sse.chunk(envelope, { content: p.runtime.config.refusal.text });
  await sse.chunk(envelope, {}, "content_filter", { qwen3guard: guardObject(p.runtime, judged, []) });
  if (p.chat.includeUsage) await sse.usage(envelope, ZERO_USAGE);
  sse.done();
}

// ---------------------------------------------------------------------------------------------------------------
// Streaming

/** Server-sent events to the client, with backpressure. */
class SseWriter {
  readonly #out = new PassThrough();
  readonly #p: ProxyRequest;

  constructor(p: ProxyRequest) {
    this.#p = p;
    p.reply
      .header("content-type", "text/event-stream; charset=utf-8")
      .header("cache-control", "no-cache")
      .header("x-accel-buffering", "no");
    void p.reply.send(this.#out);
  }

  async data(payload: unknown): Promise<void> {
    if (this.#out.destroyed || this.#out.writableEnded) return;
    const line = `data: ${typeof payload === "string" ? payload : JSON.stringify(payload)}\n\n`;
    if (this.#out.write(line)) return;
    await new Promise<void>((resolve) => {
      const done = () => {
        this.#out.off("drain", done);
        this.#out.off("close", done);
        this.#p.signal.removeEventListener("abort", done);
        resolve();
      };
      this.#out.once("drain", done);
      this.#out.once("close", done);
      this.#p.signal.addEventListener("abort", done, { once: true });
    });
  }

  /** A `chat.completion.chunk` with one choice. */
  chunk(
    envelope: Record<string, unknown>,
    delta: Record<string, unknown>,
    finishReason: string | null = null,
    extra: Record<string, unknown> = {},
  ): Promise<void> {
    return this.data({
      ...envelope,
      object: "chat.completion.chunk",
      choices: [{ index: 0, delta, logprobs: null, finish_reason: finishReason }],
      ...(this.#p.chat.includeUsage ? { usage: null } : {}),
      ...extra,
    });
  }

  /** The usage chunk (`stream_options.include_usage`): no choices. */
  usage(envelope: Record<string, unknown>, usage: unknown): Promise<void> {
    return this.data({ ...envelope, object: "chat.completion.chunk", choices: [], usage });
  }

  /** An in-stream error (the LiteLLM convention: OpenAI documents none). */
  error(error: HttpError): Promise<void> {
    return this.data(errorBody(error));
  }

  done(): void {
    if (this.#out.destroyed || this.#out.writableEnded) return;
    this.#out.end("data: [DONE]\n\n");
  }

  close(): void {
    if (!this.#out.writableEnded) this.#out.end();
  }
}

/** Fields of a delta whose text the guard reads. */
const TEXT_FIELDS = ["content", "reasoning_content", "reasoning", "refusal"] as const;

/** What a marker carries: the non-text fields of an upstream delta, passed on as they came. */
interface DeltaMarker {
  delta: Record<string, unknown>;
}

/** What the proxy keeps from the upstream stream of the current attempt. */
interface UpstreamState {
  envelope: Record<string, unknown>;
  finishReason: string | undefined;
  usage: unknown;
  /** When the upstream's stream ended (for the guard's added latency). */
  endedAt: number | undefined;
}

/** Split a delta into the texts the guard reads (in channel order) and the fields passed on untouched. */
export function splitDelta(delta: Record<string, unknown>): {
  rest: Record<string, unknown>;
  texts: { channel: string; text: string }[];
} {
  const rest: Record<string, unknown> = {};
  const texts: { channel: string; text: string }[] = [];
  for (const [key, value] of Object.entries(delta)) {
    if ((TEXT_FIELDS as readonly string[]).includes(key)) {
      if (typeof value === "string" && value.length > 0) texts.push({ channel: key, text: value });
      else rest[key] = value; // "" or null, as sent
    } else if (key === "tool_calls" && Array.isArray(value)) {
      const headers: unknown[] = [];
      for (const call of value as Record<string, unknown>[]) {
        const { function: fn, ...header } = call;
        const f = (fn ?? {}) as Record<string, unknown>;
        const { arguments: args, ...fnRest } = f;
        const hasHeader = Object.keys(header).some((k) => k !== "index") || Object.keys(fnRest).length > 0;
        if (hasHeader) {
          headers.push({
            ...header,
            ...(fn === undefined ? {} : { function: { ...fnRest, arguments: "" } }),
          });
        }
        if (typeof args === "string" && args.length > 0) {
          texts.push({ channel: `tool_calls:${String(call.index ?? 0)}`, text: args });
        }
      }
      if (headers.length > 0) rest.tool_calls = headers;
    } else if (key === "function_call" && value !== null && typeof value === "object") {
      const { arguments: args, ...fnRest } = value as Record<string, unknown>;
      if (Object.keys(fnRest).length > 0) rest.function_call = { ...fnRest, arguments: "" };
      if (typeof args === "string" && args.length > 0) texts.push({ channel: "function_call", text: args });
    } else {
      rest[key] = value; // not text the guard reads: passed on (see docs/server.md)
    }
  }
  return { rest, texts };
}

/** The delta that carries cleared text of a channel. */
function textDelta(channel: string, text: string): Record<string, unknown> {
  if (channel.startsWith("tool_calls:")) {
    return {
      tool_calls: [{ index: Number(channel.slice("tool_calls:".length)), function: { arguments: text } }],
    };
  }
  if (channel === "function_call") return { function_call: { arguments: text } };
  return { [channel]: text };
}

/** Upstream chunks → the moderated stream's items (texts and markers), keeping what the final chunks need. */
async function* upstreamItems(
  chunks: AsyncIterable<UpstreamChunk>,
  state: UpstreamState,
  continuation: boolean,
): AsyncGenerator<ModeratedSourceItem<DeltaMarker>> {
  for await (const chunk of chunks) {
    const { choices, usage, ...envelope } = chunk;
    // one stream for the client: a continuation's chunks go out under the first answer's id
    if (!continuation) state.envelope = envelope;
    if (usage !== undefined && usage !== null) state.usage = usage;
    const choice = Array.isArray(choices) ? (choices[0] as Record<string, unknown> | undefined) : undefined;
    if (choice === undefined) continue;
    if (typeof choice.finish_reason === "string") state.finishReason = choice.finish_reason;
    const delta = (choice.delta ?? {}) as Record<string, unknown>;
    const { rest, texts } = splitDelta(delta);
    if (continuation) {
      delete rest.role; // the client has the role already
      for (const f of TEXT_FIELDS) if (rest[f] === "" || rest[f] === null) delete rest[f];
    }
    if (Object.keys(rest).length > 0) yield { type: "marker", value: { delta: rest } };
    for (const t of texts) yield { type: "text", channel: t.channel, text: t.text };
  }
  state.endedAt = performance.now();
}

/** An upstream stream as a moderated source whose early stop closes the upstream connection. */
function asSource(
  chunks: AsyncIterable<UpstreamChunk>,
  connection: AbortController,
  state: UpstreamState,
  continuation: boolean,
): ModeratedSource<DeltaMarker> {
  return (signal) => {
    if (signal.aborted) connection.abort(signal.reason);
    else signal.addEventListener("abort", () => connection.abort(signal.reason), { once: true });
    return upstreamItems(chunks, state, continuation);
  };
}

/** An AbortController that also aborts with `parent`. */
function linked(parent: AbortSignal): AbortController {
  const c = new AbortController();
  if (parent.aborted) c.abort(parent.reason);
  else parent.addEventListener("abort", () => c.abort(parent.reason), { once: true });
  return c;
}

function answerGuard(p: ProxyRequest, session: StreamSession | undefined, preferGen: boolean) {
  const { runtime } = p;
  if (preferGen && runtime.gen) return { gen: runtime.gen };
  if (runtime.stream) return { stream: runtime.stream, ...(session ? { session } : {}) };
  return { gen: runtime.gen! };
}

/** The answer's row: the last attempt's own decision (a regeneration before it has its own row). */
function recordAnswer(p: ProxyRequest, result: ModeratedStreamResult, guardMs: number | undefined): void {
  const { runtime } = p;
  runtime.metrics.tokens.inc({ model: result.model }, result.tokens);
  if (guardMs !== undefined) {
    runtime.metrics.guardSeconds.observe({ direction: "response", model: result.model }, guardMs / 1000);
  }
  p.record(fromAnswer(result.final), result.text, guardMs ?? 0);
}

function recordRegenerate(p: ProxyRequest, r: RegenerateRequest): void {
  p.runtime.metrics.blocked.inc({ kind: "regenerate" });
  p.record(fromAnswer(r.decision), r.text, 0);
}

async function proxyStream(p: ProxyRequest, session: StreamSession | undefined): Promise<void> {
  const { runtime, chat } = p;
  const connection = linked(p.signal);
  const state: UpstreamState = {
    envelope: {},
    finishReason: undefined,
    usage: undefined,
    endedAt: undefined,
  };
  let chunks: AsyncGenerator<UpstreamChunk>;
  try {
    chunks = await streamChat(p.upstream, chat.body, { signal: connection.signal, requestId: p.request.id });
  } catch (error) {
    await session?.close().catch(() => undefined);
    throw error;
  }
  const sse = new SseWriter(p);
  let finished!: () => void;
  const done = new Promise<void>((resolve) => (finished = resolve));
  runtime.track({ end: () => p.abort.abort(new Shutdown("the server is shutting down")), done });
  let toolCallSent = false;
  const regenerate = async (r: RegenerateRequest): Promise<ModeratedSource<DeltaMarker> | undefined> => {
    // only plain text is continued: not once a tool call or another field went out
    if (toolCallSent) return undefined;
    recordRegenerate(p, r);
    const next = linked(r.signal);
    state.finishReason = undefined;
    state.usage = undefined;
    state.endedAt = undefined;
    const body = continuationRequest(chat, r.prefix, runtime.config.regenerate);
    const more = await streamChat(p.upstream, body, { signal: next.signal, requestId: p.request.id });
    return asSource(more, next, state, true);
  };
  try {
    const parts = moderateTextStream<DeltaMarker>(asSource(chunks, connection, state, false), {
      messages: chat.conversation,
      ...answerGuard(p, session, false),
      policy: p.policy,
      prefix: chat.prefill,
      regenerate,
      maxRegenerations: runtime.config.regenerate.maxAttempts,
      signal: p.signal,
    });
    for await (const part of parts) {
      if (part.type === "text") {
        if (part.channel !== "content") toolCallSent = true;
        await sse.chunk(state.envelope, textDelta(part.channel, part.text));
      } else if (part.type === "marker") {
        if ("tool_calls" in part.value.delta || "function_call" in part.value.delta) toolCallSent = true;
        await sse.chunk(state.envelope, part.value.delta);
      } else if (part.type === "regenerate") {
        // recorded in the callback, before the continuation was asked for
      } else {
        const result = part.result;
        // the guard's added latency: from the upstream's last chunk (a cut stream has none)
        const guardMs = state.endedAt === undefined ? undefined : performance.now() - state.endedAt;
        recordAnswer(p, result, guardMs);
        const blocked = result.status === "blocked";
        if (blocked) runtime.metrics.blocked.inc({ kind: "stream" });
        const guard = p.guardObjectFor(result);
        await sse.chunk(
          state.envelope,
          {},
          blocked ? "content_filter" : (state.finishReason ?? "stop"),
          guard ? { qwen3guard: guard } : {},
        );
        if (chat.includeUsage && !blocked && state.usage !== undefined)
          await sse.usage(state.envelope, state.usage);
        sse.done();
      }
    }
  } catch (error) {
    const reason = p.signal.aborted ? p.signal.reason : error;
    if (reason instanceof ClientGone) {
      p.request.log.info("the client closed the connection mid-stream: the upstream call was aborted");
    } else {
      const http =
        reason instanceof Shutdown
          ? new HttpError(503, "SERVER_SHUTTING_DOWN", "the server is shutting down: this stream was ended", {
              type: "server_error",
            })
          : toHttpError(guardError(reason, "answer"));
      if (http.statusCode >= 500) p.request.log.error({ err: reason }, http.message);
      await sse.error(http);
      sse.done();
    }
  } finally {
    sse.close();
    connection.abort();
    finished();
  }
}

// ---------------------------------------------------------------------------------------------------------------
// One completion

/** A completion's message → the moderated stream's items (content, reasoning, refusal, tool-call arguments). */
function messageItems(message: Record<string, unknown> | undefined): ModeratedSourceItem[] {
  if (message === undefined || message === null) return [];
  const { tool_calls: calls, ...rest } = message;
  // a message's tool calls carry no index: number them in order
  const numbered = Array.isArray(calls)
    ? (calls as Record<string, unknown>[]).map((c, i) => ({ ...c, index: i }))
    : undefined;
  const { texts } = splitDelta(numbered ? { ...rest, tool_calls: numbered } : rest);
  return texts.map((t) => ({ type: "text" as const, channel: t.channel, text: t.text }));
}

async function* fromArray<T>(items: readonly T[]): AsyncGenerator<T> {
  yield* items;
}

async function proxyComplete(p: ProxyRequest, session: StreamSession | undefined): Promise<void> {
  const { runtime, chat } = p;
  // a complete answer is judged by Gen when it is loaded (Stream's session then served only the prompt)
  const preferGen = runtime.gen !== undefined;
  if (preferGen && session) {
    await session.close();
    session = undefined;
    p.releaseSlot();
  }
  let answer: Record<string, unknown>;
  try {
    answer = await completeChat(p.upstream, chat.body, { signal: p.signal, requestId: p.request.id });
  } catch (error) {
    await session?.close().catch(() => undefined);
    throw error;
  }
  const choiceOf = (a: Record<string, unknown>) =>
    (Array.isArray(a.choices) ? a.choices[0] : undefined) as Record<string, unknown> | undefined;
  let last = answer;
  const delivered = new Map<string, string>();
  let result: ModeratedStreamResult | undefined;
  const started = performance.now();
  try {
    const parts = moderateTextStream(fromArray(messageItems(choiceOf(answer)?.message as never)), {
      messages: chat.conversation,
      ...answerGuard(p, session, preferGen),
      policy: p.policy,
      prefix: chat.prefill,
      maxRegenerations: runtime.config.regenerate.maxAttempts,
      signal: p.signal,
      regenerate: async (r) => {
        if ((choiceOf(last)?.message as { tool_calls?: unknown } | undefined)?.tool_calls) return undefined;
        recordRegenerate(p, r);
        last = await completeChat(
          p.upstream,
          continuationRequest(chat, r.prefix, runtime.config.regenerate),
          {
            signal: r.signal,
            requestId: p.request.id,
          },
        );
        return fromArray(messageItems(choiceOf(last)?.message as never));
      },
    });
    for await (const part of parts) {
      if (part.type === "text") delivered.set(part.channel, (delivered.get(part.channel) ?? "") + part.text);
      else if (part.type === "end") result = part.result;
    }
  } catch (error) {
    throw guardError(p.signal.aborted ? p.signal.reason : error, "answer");
  }
  const r = result!;
  recordAnswer(p, r, performance.now() - started);
  const blocked = r.status === "blocked";
  if (blocked) runtime.metrics.blocked.inc({ kind: "response" });
  const guard = p.guardObjectFor(r);
  const choice = choiceOf(last) ?? { index: 0 };
  if (blocked) {
    void p.reply.send({
      ...last,
      choices: [
        {
          index: 0,
          message: { role: "assistant", content: runtime.config.refusal.text, refusal: null },
          logprobs: null,
          finish_reason: "content_filter",
        },
      ],
      qwen3guard: guard,
    });
  } else if (r.regenerations > 0) {
    // the answer the client gets: the cleared text of the first answer, then the continuation's
    const message = { ...(choice.message as Record<string, unknown>) };
    message.content = delivered.get("content") ?? "";
    void p.reply.send({ ...last, choices: [{ ...choice, message, logprobs: null }], qwen3guard: guard });
  } else {
    void p.reply.send(guard ? { ...answer, qwen3guard: guard } : answer);
  }
}
