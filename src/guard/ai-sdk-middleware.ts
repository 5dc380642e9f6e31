/**
 * Qwen3Guard as an AI SDK language model middleware (`wrapLanguageModel` from the `ai` package, specification
 * `LanguageModelV3Middleware` of `@ai-sdk/provider` 3): the prompt is judged before the model is called, and the
 * answer through `moderateTextStream` — the same core as the HTTP proxy. A blocked stream ends with finish reason
 * `content-filter` and none of the flagged text. Only types come from `@ai-sdk/provider`: nothing of the AI SDK is
 * loaded at run time.
 */
import type {
  JSONObject,
  LanguageModelV3Content,
  LanguageModelV3FinishReason,
  LanguageModelV3GenerateResult,
  LanguageModelV3Middleware,
  LanguageModelV3Prompt,
  LanguageModelV3StreamPart,
  LanguageModelV3Usage,
} from "@ai-sdk/provider";
import type { Category, RiskTier } from "../core/labels.js";
import type { ChatMessage } from "../core/messages.js";
import { decide, emptyPolicy, type Decision, type Policy } from "../core/policy/index.js";
import type { StreamRule } from "../core/stream-decision.js";
import type { TierProbabilities } from "../core/verdict.js";
import type { GenGuard } from "./gen-guard.js";
import { guardConversation } from "./guard-conversation.js";
import {
  DEFAULT_REGENERATE_INSTRUCTION,
  moderateTextStream,
  type AnswerDecision,
  type ModeratedSource,
  type ModeratedSourceItem,
  type ModeratedStreamPart,
  type ModeratedStreamResult,
} from "./moderated-stream.js";
import type { StreamGuard } from "./stream-guard.js";
import type { StreamSession } from "./stream-session.js";

/**
 * A decision the AI SDK middleware took, for logging or an audit trail (the `onDecision` option): the direction,
 * the guard that judged, the verdict and the policy's decision, the regeneration it rolled back.
 *
 * @example
 * ```ts
 * import { createQwen3GuardMiddleware, type Qwen3GuardDecisionEvent, type StreamGuard } from "qwen3guard";
 *
 * function audited(stream: StreamGuard) {
 *   return createQwen3GuardMiddleware({
 *     stream,
 *     onDecision: (event: Qwen3GuardDecisionEvent) =>
 *       console.log(event.direction, event.tier, event.categories, event.decision.action, event.attempt),
 *   });
 * }
 * console.log(typeof audited);
 * ```
 */
export interface Qwen3GuardDecisionEvent {
  direction: "prompt" | "response";
  model: "stream" | "gen";
  tier: RiskTier;
  categories: string[];
  probabilities?: TierProbabilities;
  decision: Decision;
  /** The regeneration this decision rolled back (response), or 0. */
  attempt: number;
}

/**
 * Options of `createQwen3GuardMiddleware`: the guards (a Stream guard for streams, a Gen guard for `generateText`
 * and prompts without a Stream guard), the policy, the pair rule, the text that replaces a blocked answer, the
 * regenerate action, and a decision callback.
 *
 * @example
 * ```ts
 * import { GenGuard, StreamGuard, createQwen3GuardMiddleware, loadPolicyFile, type Qwen3GuardMiddlewareOptions } from "qwen3guard";
 *
 * const options: Qwen3GuardMiddlewareOptions = {
 *   stream: await StreamGuard.load({ model: "/models/Qwen3Guard-Stream-0.6B" }),
 *   gen: await GenGuard.load({ model: "/models/Qwen3Guard-Gen-0.6B" }),
 *   policy: await loadPolicyFile("policies/chat-assistant.yaml"),
 *   refusal: "Sorry, I can't help with that.",
 *   regenerate: { maxAttempts: 1 },
 * };
 * const middleware = createQwen3GuardMiddleware(options); // wrapLanguageModel({ model, middleware })
 * console.log(typeof middleware.wrapStream);
 * ```
 */
export interface Qwen3GuardMiddlewareOptions {
  /** Qwen3Guard-Stream: judges the prompt and streamed answers token by token (preferred for streams). */
  stream?: StreamGuard;
  /** Qwen3Guard-Gen: judges the prompt (without a Stream guard) and complete answers (`generateText`). */
  gen?: GenGuard;
  /** The policy (default: the built-in table, strict mode). */
  policy?: Policy;
  /** Text the caller gets instead of a blocked prompt or answer (default: none, only the finish reason says it). */
  refusal?: string;
  /** The Stream pair rule (default: the guard's, "official"). */
  rule?: StreamRule;
  /**
   * The regenerate action: the model is called again with the instruction (as a system message) and the cleared
   * answer as an assistant prefill, up to `maxAttempts` times, then the answer is blocked. Default: on, 2 attempts.
   * `false`: regenerate acts as block.
   */
  regenerate?: false | { instruction?: string; maxAttempts?: number };
  /** Called with every decision other than allow (and every prompt decision), synchronously. */
  onDecision?: (event: Qwen3GuardDecisionEvent) => void;
}

type Part = LanguageModelV3StreamPart;
/** A stream part passed on in place, or a tool call whose input was judged as text (no deltas came for it). */
type Marker = { part: Part };

const TEXT = "text";
const FILTERED: LanguageModelV3FinishReason = { unified: "content-filter", raw: "qwen3guard" };
const NO_USAGE: LanguageModelV3Usage = {
  inputTokens: { total: 0, noCache: 0, cacheRead: 0, cacheWrite: 0 },
  outputTokens: { total: 0, text: 0, reasoning: 0 },
};

function toolOutputText(output: unknown): string {
  const o = output as { type?: string; value?: unknown; reason?: string } | undefined;
  if (o === undefined) return "";
  if (typeof o.value === "string") return o.value;
  if (o.value !== undefined) return JSON.stringify(o.value);
  return o.reason ?? "";
}

/** The AI SDK prompt as the chat the guard reads (images and files are not read). */
export function promptMessages(prompt: LanguageModelV3Prompt): ChatMessage[] {
  const out: ChatMessage[] = [];
  for (const message of prompt) {
    if (message.role === "system") {
      out.push({ role: "system", content: message.content });
      continue;
    }
    const texts: string[] = [];
    for (const part of message.content) {
      if (part.type === "text" || part.type === "reasoning") texts.push(part.text);
      else if (part.type === "tool-call")
        texts.push(`${part.toolName}(${JSON.stringify(part.input ?? null)})`);
      else if (part.type === "tool-result") texts.push(toolOutputText(part.output));
    }
    // tool results are read as user turns: the guard models know system, user and assistant
    out.push({ role: message.role === "assistant" ? "assistant" : "user", content: texts.join("\n") });
  }
  return out;
}

/** The prompt that asks the model to continue `prefix` safely: the instruction as a system message, the prefix as an assistant prefill. */
function continuationPrompt(
  prompt: LanguageModelV3Prompt,
  prefillFrom: number,
  prefix: string,
  instruction: string,
): LanguageModelV3Prompt {
  const head = prompt.slice(0, prefillFrom);
  const first = head[0];
  const withInstruction: LanguageModelV3Prompt =
    first?.role === "system"
      ? [{ ...first, content: `${first.content}\n\n${instruction}` }, ...head.slice(1)]
      : [{ role: "system", content: instruction }, ...head];
  return prefix.length > 0
    ? [...withInstruction, { role: "assistant", content: [{ type: "text", text: prefix }] }]
    : withInstruction;
}

function guardMetadata(
  main: {
    direction: string;
    model: string;
    tier: string;
    categories: string[];
    probabilities?: unknown;
    decision: Decision;
    note?: string;
  },
  regenerations = 0,
): JSONObject {
  return JSON.parse(
    JSON.stringify({
      direction: main.direction,
      model: main.model,
      tier: main.tier,
      categories: main.categories,
      probabilities: main.probabilities,
      action: main.decision.action,
      reasons: main.decision.reasons.map((r) => ({ rule: r.rule, decisive: r.decisive, message: r.message })),
      note: main.note,
      regenerations: regenerations > 0 ? regenerations : undefined,
    }),
  ) as JSONObject;
}

interface PromptJudgement {
  judged: {
    direction: "prompt";
    model: "stream" | "gen";
    tier: RiskTier;
    categories: string[];
    probabilities?: TierProbabilities;
    decision: Decision;
  };
  session?: StreamSession;
}

/**
 * An AI SDK middleware that moderates with Qwen3Guard: `wrapStream` judges the prompt first, then every
 * `text-delta` (and reasoning and tool-input deltas) live, passing on only the text the guard has cleared and
 * ending a blocked stream with a `finish` part whose reason is `content-filter` (none of the flagged text is
 * sent); `wrapGenerate` judges the complete answer. Flags and blocks are in `providerMetadata.qwen3guard`.
 *
 * @example
 * ```ts
 * import { streamText, wrapLanguageModel } from "ai";
 * import { MockLanguageModelV3, convertArrayToReadableStream } from "ai/test";
 * import { StreamGuard, createQwen3GuardMiddleware } from "qwen3guard";
 * import { writeCraftedStreamModel } from "qwen3guard/testing";
 *
 * // a toy Stream model (" bomb" is Unsafe): its verdicts mean nothing about safety
 * const toy = writeCraftedStreamModel("/tmp/toy-stream");
 * const stream = await StreamGuard.load({ model: toy.dir, quantization: "f32" });
 * const llm = new MockLanguageModelV3({
 *   doStream: async () => ({
 *     stream: convertArrayToReadableStream([
 *       { type: "text-start", id: "t" },
 *       ...["Here is", " a bomb", " bomb", " recipe"].map((delta) => ({ type: "text-delta" as const, id: "t", delta })),
 *       { type: "text-end", id: "t" },
 *       { type: "finish", finishReason: { unified: "stop", raw: "stop" }, usage: { inputTokens: { total: 3, noCache: 3, cacheRead: 0, cacheWrite: 0 }, outputTokens: { total: 4, text: 4, reasoning: 0 } } },
 *     ]),
 *   }),
 * });
 * const model = wrapLanguageModel({ model: llm, middleware: createQwen3GuardMiddleware({ stream }) });
 * const result = streamText({ model, prompt: "Tell me something" });
 * console.log(await result.text, await result.finishReason); // "Here is a" "content-filter"
 * await stream.close();
 * ```
 */
export function createQwen3GuardMiddleware(options: Qwen3GuardMiddlewareOptions): LanguageModelV3Middleware {
  if (options.stream === undefined && options.gen === undefined) {
    throw new TypeError("createQwen3GuardMiddleware needs a Stream guard, a Gen guard, or both");
  }
  const policy = options.policy ?? emptyPolicy();
  const regenerate = options.regenerate === false ? undefined : (options.regenerate ?? {});
  const instruction = regenerate?.instruction ?? DEFAULT_REGENERATE_INSTRUCTION;
  const maxRegenerations = regenerate?.maxAttempts ?? 2;
  const sessionOptions = options.rule ? { rule: options.rule } : {};
  const report = (event: Qwen3GuardDecisionEvent) => options.onDecision?.(event);
  const reportAnswer = (d: AnswerDecision) =>
    report({
      direction: "response",
      model: d.model,
      tier: d.tier,
      categories: d.categories,
      ...(d.probabilities ? { probabilities: d.probabilities } : {}),
      decision: d.decision,
      attempt: d.attempt,
    });

  async function judgePrompt(
    conversation: ChatMessage[],
    signal: AbortSignal | undefined,
  ): Promise<PromptJudgement> {
    if (options.stream) {
      const session = await options.stream.openStream(conversation, {
        ...sessionOptions,
        ...(signal ? { signal } : {}),
      });
      const v = session.prompt;
      const categories = v.tier === "Safe" ? [] : [v.category];
      const decision = decide(policy, {
        direction: "prompt",
        tier: v.tier,
        categories: categories as Category[],
        probabilities: v.probabilities,
      });
      const judged = {
        direction: "prompt" as const,
        model: "stream" as const,
        tier: v.tier,
        categories,
        probabilities: v.probabilities,
        decision,
      };
      report({ ...judged, attempt: 0 });
      return { judged, session };
    }
    const v = await options.gen!.moderate(conversation);
    const decision = decide(policy, v);
    const judged = {
      direction: "prompt" as const,
      model: "gen" as const,
      tier: v.tier,
      categories: [...v.categories],
      ...(v.probabilities ? { probabilities: v.probabilities } : {}),
      decision,
    };
    report({ ...judged, attempt: 0 });
    return { judged };
  }

  const metadataOf = (result: ModeratedStreamResult, prompt: PromptJudgement["judged"]) => {
    if (result.decision.decision.action !== "allow")
      return guardMetadata({ direction: "response", ...result.decision }, result.regenerations);
    if (prompt.decision.action !== "allow") return guardMetadata(prompt);
    return undefined;
  };

  return {
    specificationVersion: "v3",

    async wrapStream({ doStream, params, model }) {
      const chat = guardConversation(promptMessages(params.prompt));
      const prompt = await judgePrompt(chat.conversation, params.abortSignal);
      if (prompt.judged.decision.action === "block") {
        await prompt.session?.close();
        return { stream: refusalStream(options.refusal, { qwen3guard: guardMetadata(prompt.judged) }) };
      }
      let first: Awaited<ReturnType<typeof doStream>>;
      try {
        first = await doStream();
      } catch (error) {
        await prompt.session?.close();
        throw error;
      }
      const state: StreamState = {
        openText: undefined,
        open: new Map(),
        finish: undefined,
        toolsWithDeltas: new Set(),
      };
      const parts = moderateTextStream<Marker>(source(first.stream, state, false), {
        messages: chat.conversation,
        ...(options.stream
          ? { stream: options.stream, ...(prompt.session ? { session: prompt.session } : {}) }
          : { gen: options.gen! }),
        policy,
        prefix: chat.prefill,
        primaryChannel: TEXT,
        sessionOptions,
        maxRegenerations,
        ...(params.abortSignal ? { signal: params.abortSignal } : {}),
        ...(regenerate
          ? {
              regenerate: async (request) => {
                if (state.open.size > (state.openText ? 1 : 0)) return undefined; // not only text went out
                reportAnswer(request.decision);
                const next = await model.doStream({
                  ...params,
                  prompt: continuationPrompt(params.prompt, chat.prefillFrom, request.prefix, instruction),
                  abortSignal: request.signal,
                });
                state.finish = undefined;
                return source(next.stream, state, true);
              },
            }
          : {}),
      });
      return {
        ...first,
        stream: output(parts, state, options.refusal, prompt.judged, metadataOf, reportAnswer),
      };
    },

    async wrapGenerate({ doGenerate, params, model }) {
      const chat = guardConversation(promptMessages(params.prompt));
      const prompt = await judgePrompt(chat.conversation, params.abortSignal);
      const useGen = options.gen !== undefined;
      if (useGen) await prompt.session?.close();
      const session = useGen ? undefined : prompt.session;
      if (prompt.judged.decision.action === "block") {
        await session?.close();
        return {
          content: options.refusal ? [{ type: "text", text: options.refusal }] : [],
          finishReason: FILTERED,
          usage: NO_USAGE,
          warnings: [],
          providerMetadata: { qwen3guard: guardMetadata(prompt.judged) },
        };
      }
      let result: LanguageModelV3GenerateResult;
      try {
        result = await doGenerate();
      } catch (error) {
        await session?.close();
        throw error;
      }
      let last = result;
      const delivered: string[] = [];
      let outcome: ModeratedStreamResult | undefined;
      const parts = moderateTextStream(fromArray(contentItems(result.content)), {
        messages: chat.conversation,
        ...(useGen ? { gen: options.gen! } : { stream: options.stream!, ...(session ? { session } : {}) }),
        policy,
        prefix: chat.prefill,
        primaryChannel: TEXT,
        sessionOptions,
        maxRegenerations,
        ...(params.abortSignal ? { signal: params.abortSignal } : {}),
        ...(regenerate
          ? {
              regenerate: async (request) => {
                if (last.content.some((c) => c.type === "tool-call")) return undefined;
                reportAnswer(request.decision);
                last = await model.doGenerate({
                  ...params,
                  prompt: continuationPrompt(params.prompt, chat.prefillFrom, request.prefix, instruction),
                  abortSignal: request.signal,
                });
                return fromArray(contentItems(last.content));
              },
            }
          : {}),
      });
      for await (const part of parts) {
        if (part.type === "text" && part.channel === TEXT) delivered.push(part.text);
        if (part.type === "end") outcome = part.result;
      }
      const r = outcome!;
      for (const d of r.decisions) if (d.decision.action !== "regenerate") reportAnswer(d);
      const metadata = metadataOf(r, prompt.judged);
      const providerMetadata = metadata
        ? { ...last.providerMetadata, qwen3guard: metadata }
        : last.providerMetadata;
      if (r.status === "blocked") {
        return {
          ...last,
          content: options.refusal ? [{ type: "text", text: options.refusal }] : [],
          finishReason: FILTERED,
          ...(providerMetadata ? { providerMetadata } : {}),
        };
      }
      if (r.regenerations > 0) {
        const text = delivered.join("");
        const rest = last.content.filter((c) => c.type !== "text");
        return {
          ...last,
          content: [{ type: "text", text }, ...rest],
          ...(providerMetadata ? { providerMetadata } : {}),
        };
      }
      return providerMetadata ? { ...result, providerMetadata } : result;
    },
  };
}

async function* fromArray<T>(items: readonly T[]): AsyncGenerator<T> {
  yield* items;
}

/** A generated answer's content as text items (text, reasoning, tool-call inputs). */
function contentItems(content: readonly LanguageModelV3Content[]): ModeratedSourceItem[] {
  const items: ModeratedSourceItem[] = [];
  content.forEach((c, i) => {
    if (c.type === "text") items.push({ type: "text", channel: TEXT, text: c.text });
    else if (c.type === "reasoning") items.push({ type: "text", channel: `reasoning:${i}`, text: c.text });
    else if (c.type === "tool-call")
      items.push({ type: "text", channel: `tool-call:${c.toolCallId}`, text: c.input });
  });
  return items;
}

interface StreamState {
  /** The id of the text part the cleared text goes to. */
  openText: string | undefined;
  /** Text, reasoning and tool-input parts started (and not ended) on the output, by id. */
  open: Map<string, "text" | "reasoning" | "tool-input">;
  /** The model's finish part, kept for the end. */
  finish: Extract<Part, { type: "finish" }> | undefined;
  toolsWithDeltas: Set<string>;
}

/** The model's stream parts → the moderated stream's items. A continuation's start parts are dropped. */
function source(
  stream: ReadableStream<Part>,
  state: StreamState,
  continuation: boolean,
): ModeratedSource<Marker> {
  return (signal) =>
    (async function* () {
      const reader = stream.getReader();
      const cancel = () => void reader.cancel(signal.reason).catch(() => undefined);
      if (signal.aborted) cancel();
      else signal.addEventListener("abort", cancel, { once: true });
      try {
        for (;;) {
          const { done, value: part } = await reader.read();
          if (done) return;
          switch (part.type) {
            case "text-delta":
              yield { type: "text", channel: TEXT, text: part.delta };
              break;
            case "reasoning-delta":
              yield { type: "text", channel: `reasoning:${part.id}`, text: part.delta };
              break;
            case "tool-input-delta":
              state.toolsWithDeltas.add(part.id);
              yield { type: "text", channel: `tool-input:${part.id}`, text: part.delta };
              break;
            case "tool-call":
              // a tool call that came whole: judge its input before it goes out (silently: the part carries it)
              if (!state.toolsWithDeltas.has(part.toolCallId)) {
                yield { type: "text", channel: `tool-call:${part.toolCallId}`, text: part.input };
              }
              yield { type: "marker", value: { part } };
              break;
            case "finish":
              state.finish = part;
              break;
            case "stream-start":
            case "response-metadata":
              if (!continuation) yield { type: "marker", value: { part } };
              break;
            case "text-start":
              // the continuation goes on in the text part already open
              if (!(continuation && state.openText !== undefined)) yield { type: "marker", value: { part } };
              break;
            case "text-end":
              yield {
                type: "marker",
                value: { part: continuation && state.openText ? { ...part, id: state.openText } : part },
              };
              break;
            default:
              yield { type: "marker", value: { part } };
          }
        }
      } finally {
        signal.removeEventListener("abort", cancel);
        reader.releaseLock();
      }
    })();
}

/** The moderated stream's parts → the stream the caller reads. */
function output(
  parts: AsyncGenerator<ModeratedStreamPart<Marker>>,
  state: StreamState,
  refusal: string | undefined,
  prompt: PromptJudgement["judged"],
  metadataOf: (r: ModeratedStreamResult, p: PromptJudgement["judged"]) => JSONObject | undefined,
  reportAnswer: (d: AnswerDecision) => void,
): ReadableStream<Part> {
  return new ReadableStream<Part>({
    async pull(controller) {
      try {
        const next = await parts.next();
        if (next.done) {
          controller.close();
          return;
        }
        const part = next.value;
        if (part.type === "marker") {
          const p = part.value.part;
          if (p.type === "text-start") state.openText = p.id;
          if (p.type === "text-start") state.open.set(p.id, "text");
          if (p.type === "reasoning-start") state.open.set(p.id, "reasoning");
          if (p.type === "tool-input-start") state.open.set(p.id, "tool-input");
          if (p.type === "text-end" || p.type === "reasoning-end" || p.type === "tool-input-end")
            state.open.delete(p.id);
          if (p.type === "text-end" && p.id === state.openText) state.openText = undefined;
          controller.enqueue(p);
        } else if (part.type === "text") {
          const [kind, id] = splitChannel(part.channel);
          if (kind === TEXT) {
            if (state.openText === undefined) {
              state.openText = "qwen3guard-text";
              state.open.set(state.openText, "text");
              controller.enqueue({ type: "text-start", id: state.openText });
            }
            controller.enqueue({ type: "text-delta", id: state.openText, delta: part.text });
          } else if (kind === "reasoning")
            controller.enqueue({ type: "reasoning-delta", id, delta: part.text });
          else if (kind === "tool-input")
            controller.enqueue({ type: "tool-input-delta", id, delta: part.text });
          // tool-call: the tool-call part carries the input
        } else if (part.type === "regenerate") {
          // reported when the continuation was asked for
        } else {
          const r = part.result;
          for (const d of r.decisions) if (d.decision.action !== "regenerate") reportAnswer(d);
          const metadata = metadataOf(r, prompt);
          if (r.status === "blocked") {
            for (const [id, kind] of state.open) controller.enqueue({ type: `${kind}-end`, id });
            state.open.clear();
            if (refusal) {
              controller.enqueue({ type: "text-start", id: "qwen3guard-refusal" });
              controller.enqueue({ type: "text-delta", id: "qwen3guard-refusal", delta: refusal });
              controller.enqueue({ type: "text-end", id: "qwen3guard-refusal" });
            }
            controller.enqueue({
              type: "finish",
              finishReason: FILTERED,
              usage: state.finish?.usage ?? NO_USAGE,
              providerMetadata: { qwen3guard: metadata! },
            });
          } else {
            const finish = state.finish ?? {
              type: "finish",
              finishReason: { unified: "stop", raw: undefined },
              usage: NO_USAGE,
            };
            controller.enqueue(
              metadata
                ? { ...finish, providerMetadata: { ...finish.providerMetadata, qwen3guard: metadata } }
                : finish,
            );
          }
        }
      } catch (error) {
        // fail closed: nothing more of the answer; the error, then the end
        controller.enqueue({ type: "error", error });
        controller.enqueue({
          type: "finish",
          finishReason: { unified: "error", raw: "qwen3guard" },
          usage: state.finish?.usage ?? NO_USAGE,
        });
        controller.close();
        await parts.return(undefined).catch(() => undefined);
      }
    },
    async cancel() {
      await parts.return(undefined);
    },
  });
}

function splitChannel(channel: string): [string, string] {
  const at = channel.indexOf(":");
  return at < 0 ? [channel, ""] : [channel.slice(0, at), channel.slice(at + 1)];
}

/** The stream of a blocked prompt: the refusal text (if any), then `finish` with `content-filter`. */
function refusalStream(
  refusal: string | undefined,
  metadata: Record<string, JSONObject>,
): ReadableStream<Part> {
  const parts: Part[] = [{ type: "stream-start", warnings: [] }];
  if (refusal) {
    parts.push(
      { type: "text-start", id: "qwen3guard-refusal" },
      { type: "text-delta", id: "qwen3guard-refusal", delta: refusal },
      { type: "text-end", id: "qwen3guard-refusal" },
    );
  }
  parts.push({ type: "finish", finishReason: FILTERED, usage: NO_USAGE, providerMetadata: metadata });
  return new ReadableStream<Part>({
    start(controller) {
      for (const p of parts) controller.enqueue(p);
      controller.close();
    },
  });
}
