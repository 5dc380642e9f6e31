/**
 * A moderated text stream: any LLM's answer, as an async iterable of text chunks, goes in; the text the guard has
 * cleared comes out as soon as it is cleared, then one final decision. The HTTP proxy (`qwen3guard serve`) and the
 * AI SDK middleware are thin adapters over this one function; it uses only the public guard API.
 *
 * The hold-back rule (docs/server.md, "What is held back"): Qwen3Guard-Stream judges every token, and the decision
 * rule fires on a pair of consecutive flagged tokens. A token is yielded only once no pair can flag it any more:
 * - a token whose tier cannot start a pair the policy would stop on is cleared at once, with everything before it;
 * - a token that can start one waits for the next token's verdict (one token at most);
 * - the session re-tokenizes the text into Qwen3 tokens incrementally, so the last pre-tokenizer piece (a word, a
 *   run of punctuation or of whitespace) waits until the next chunk shows where it ends;
 * - at the end of the answer everything not flagged is released.
 * When the pair fires and the policy says block, nothing of the pair (or after it) is yielded. With only a Gen
 * guard, the whole answer is judged once it is complete, and nothing is yielded before.
 */
import type { Category, RefusalLabel, RiskTier } from "../core/labels.js";
import { RISK_TIERS } from "../core/labels.js";
import type { ChatMessage } from "../core/messages.js";
import { decide, emptyPolicy, tierAction } from "../core/policy/index.js";
import type { Decision, Policy, PolicyAction } from "../core/policy/index.js";
import { pairTrigger, type StreamRule } from "../core/stream-decision.js";
import type { TierProbabilities } from "../core/verdict.js";
import { hasNfcBoundaryBefore } from "../model/tokenizer/normalizer.js";
import type { GenGuard } from "./gen-guard.js";
import type { StreamGuard } from "./stream-guard.js";
import type { StreamSession } from "./stream-session.js";
import type { StreamSessionOptions, StreamTokenVerdict } from "./stream-types.js";

/**
 * One item of an answer given to `moderateTextStream`: text (of the primary channel when a plain string, or of a
 * named channel such as reasoning), or a marker passed through in order (e.g. a tool call of your own).
 *
 * @example
 * ```ts
 * import type { ModeratedSourceItem } from "qwen3guard";
 *
 * const items: ModeratedSourceItem<{ toolCall: string }>[] = [
 *   "Let me check.",
 *   { type: "text", text: "thinking about the weather", channel: "reasoning" },
 *   { type: "marker", value: { toolCall: "weather()" } },
 * ];
 * console.log(items.length);
 * ```
 */
export type ModeratedSourceItem<M = never> =
  string | { type: "text"; text: string; channel?: string } | { type: "marker"; value: M };

/**
 * The answer given to `moderateTextStream`: an async iterable, or a function of an AbortSignal returning one (the
 * signal is aborted when the moderated stream stops reading it early, e.g. to close an HTTP request at once).
 *
 * @example
 * ```ts
 * import type { ModeratedSource } from "qwen3guard";
 *
 * const source: ModeratedSource = async function* (signal: AbortSignal) {
 *   for (const chunk of ["Once", " upon", " a time"]) {
 *     if (signal.aborted) return; // the moderated stream stopped reading: stop generating
 *     yield chunk;
 *   }
 * };
 * console.log(typeof source);
 * ```
 */
export type ModeratedSource<M = never> =
  AsyncIterable<ModeratedSourceItem<M>> | ((signal: AbortSignal) => AsyncIterable<ModeratedSourceItem<M>>);

/**
 * A decision about a moderated answer (or part of it): which guard judged, the verdict judged, the policy's
 * decision, and the attempt (`ModeratedStreamResult.decision`, `.final`, `.decisions`; `regenerate` parts).
 *
 * @example
 * ```ts
 * import type { AnswerDecision } from "qwen3guard";
 *
 * function auditLine(d: AnswerDecision): string {
 *   return `${d.model} attempt ${d.attempt}: ${d.tier} ${d.categories.join(",")} → ${d.decision.action}${d.note ? ` (${d.note})` : ""}`;
 * }
 * console.log(typeof auditLine);
 * ```
 */
export interface AnswerDecision {
  /** Which guard judged: Qwen3Guard-Stream (per token) or Qwen3Guard-Gen (the whole answer). */
  model: "stream" | "gen";
  /** The verdict judged: a pair's (tier of the pair, category and probabilities of its second token), or Gen's. */
  tier: RiskTier;
  categories: string[];
  probabilities?: TierProbabilities;
  /** Gen only: whether the answer is a refusal. */
  refusal?: RefusalLabel;
  /** The policy's decision (its action may be raised to block when regenerate could not be done; see `note`). */
  decision: Decision;
  /** 0 for the original answer, n for the n-th regeneration. */
  attempt: number;
  /** Why the action differs from the policy's, when it does. */
  note?: string;
}

/**
 * A request to continue an answer that was rolled back (the `regenerate` policy action), given to the
 * `regenerate` option of `moderateTextStream`: the attempt, the answer so far, the decision, the text rolled back.
 *
 * @example
 * ```ts
 * import { DEFAULT_REGENERATE_INSTRUCTION, type ChatMessage, type RegenerateRequest } from "qwen3guard";
 *
 * // the messages to send the LLM for the continuation: the instruction, the conversation, the answer so far
 * function continuation(messages: ChatMessage[], request: RegenerateRequest): ChatMessage[] {
 *   return [{ role: "system", content: DEFAULT_REGENERATE_INSTRUCTION }, ...messages, { role: "assistant", content: request.prefix }];
 * }
 * console.log(typeof continuation);
 * ```
 */
export interface RegenerateRequest {
  /** 1 for the first regeneration. */
  attempt: number;
  /** The answer so far: the prefix given in the options plus everything yielded (primary channel only). */
  prefix: string;
  /** The decision that rolled the answer back. */
  decision: AnswerDecision;
  /** The text the guard judged in the attempt rolled back (flagged span included), e.g. for an audit log. */
  text: string;
  /** Aborted when the moderated stream stops. */
  signal: AbortSignal;
}

/**
 * Options of `moderateTextStream`: the conversation, the guard (a Stream guard or session, else a Gen guard), the
 * policy, the regenerate callback and its limit, the sessions' options, a stop signal.
 *
 * @example
 * ```ts
 * import { StreamGuard, loadPolicyFile, moderateTextStream, type ModerateTextStreamOptions } from "qwen3guard";
 *
 * const stream = await StreamGuard.load({ model: "/models/Qwen3Guard-Stream-0.6B" });
 * const options: ModerateTextStreamOptions = {
 *   stream,
 *   messages: [{ role: "user", content: "Tell me a story" }],
 *   policy: await loadPolicyFile("policies/chat-assistant.yaml"),
 *   regenerate: () => undefined, // no continuation: regenerate acts as block
 *   signal: AbortSignal.timeout(30_000),
 * };
 * async function* llm() {
 *   yield "Once upon a time...";
 * }
 * for await (const part of moderateTextStream(llm(), options)) if (part.type === "end") console.log(part.result.status);
 * await stream.close();
 * ```
 */
export interface ModerateTextStreamOptions<M = never> {
  /** The conversation the answer replies to; it ends with the user's turn. */
  messages: readonly ChatMessage[];
  /** Qwen3Guard-Stream: moderates token by token (preferred when both guards are given). */
  stream?: StreamGuard;
  /**
   * A session already opened on `messages` (e.g. after its prompt verdict was used); it is closed when the
   * moderated stream ends. Without it a session is opened on `stream`.
   */
  session?: StreamSession;
  /** Qwen3Guard-Gen: moderates the complete answer, when no Stream guard or session is given. */
  gen?: GenGuard;
  /** The policy applied to every flagged pair (Stream) or to the answer (Gen); default the built-in table (strict). */
  policy?: Policy;
  /** Text the answer already starts with (an assistant prefill): judged with the answer, never yielded. */
  prefix?: string;
  /** Channel of plain-string items, and the only channel an answer can be continued on (default "content"). */
  primaryChannel?: string;
  /**
   * The regenerate action: return the continuation of `request.prefix` (ask the generator to continue it under a
   * safety instruction), or undefined to block instead. Without this option regenerate acts as block.
   */
  regenerate?: (
    request: RegenerateRequest,
  ) => ModeratedSource<M> | undefined | Promise<ModeratedSource<M> | undefined>;
  /** Most regenerations before the answer is blocked (default 2). */
  maxRegenerations?: number;
  /** Options of the sessions this function opens (a regeneration opens a new one). */
  sessionOptions?: Omit<StreamSessionOptions, "signal">;
  /** Stops everything: the source is abandoned, the session closed, and the iteration throws the reason. */
  signal?: AbortSignal;
  /** Most chunks read from the source ahead of their verdicts (default 256); then reading waits. */
  maxAhead?: number;
}

/**
 * What a moderated answer came to (the `end` part of `moderateTextStream`): completed or blocked, the governing
 * decision, every decision other than allow, the regenerations, the text judged, the tokens judged.
 *
 * @example
 * ```ts
 * import type { ModeratedStreamResult } from "qwen3guard";
 *
 * function finishReason(result: ModeratedStreamResult): "stop" | "content_filter" {
 *   return result.status === "blocked" ? "content_filter" : "stop";
 * }
 * console.log(typeof finishReason);
 * ```
 */
export interface ModeratedStreamResult {
  /** completed: the whole answer was yielded; blocked: it was cut (nothing of the flagged span was yielded). */
  status: "completed" | "blocked";
  model: "stream" | "gen";
  /** The decision that governs the answer: the block, else the most severe other decision, else allow. */
  decision: AnswerDecision;
  /** The decision on the last attempt alone: its stop, else its most severe flag, else its whole-answer verdict. */
  final: AnswerDecision;
  /** Every decision other than allow, in order (each flagged tier and category once per attempt). */
  decisions: AnswerDecision[];
  regenerations: number;
  /** The text the guard judged in the last attempt (prefix included, channels joined by "\n"). */
  text: string;
  /** Qwen3 tokens the Stream guard judged over all attempts (0 with Gen). */
  tokens: number;
}

/**
 * What `moderateTextStream` yields, in order: cleared text, markers in their place, a `regenerate` part when the
 * answer is rolled back, and one `end` part with the result.
 *
 * @example
 * ```ts
 * import type { ModeratedStreamPart } from "qwen3guard";
 *
 * function toClient(part: ModeratedStreamPart): string | undefined {
 *   if (part.type === "text") return part.text;
 *   if (part.type === "regenerate") return "\n[rolled back]\n";
 *   if (part.type === "end" && part.result.status === "blocked") return "\n[blocked]";
 *   return undefined;
 * }
 * console.log(toClient({ type: "text", text: "Hello", channel: "content" })); // Hello
 * ```
 */
export type ModeratedStreamPart<M = never> =
  /** Cleared text of a channel. With Stream: the NFC form of the source text (see docs/server.md). */
  | { type: "text"; text: string; channel: string }
  /** A marker of the source, once every text before it was yielded. */
  | { type: "marker"; value: M }
  /** The answer was rolled back to what was yielded; its continuation follows. */
  | { type: "regenerate"; attempt: number; decision: AnswerDecision }
  /** Last part. */
  | { type: "end"; result: ModeratedStreamResult };

/**
 * What a generator is told when its answer is rolled back and it is asked to continue (the regenerate action): the
 * AI SDK middleware's and the server's default instruction; use it in your own `regenerate` callback.
 *
 * @example
 * ```ts
 * import { DEFAULT_REGENERATE_INSTRUCTION } from "qwen3guard";
 *
 * console.log(DEFAULT_REGENERATE_INSTRUCTION.startsWith("Your previous answer was stopped")); // true
 * ```
 */
export const DEFAULT_REGENERATE_INSTRUCTION =
  "Your previous answer was stopped because it became unsafe. Continue the answer from exactly where it " +
  "stopped, safely: do not repeat or complete the unsafe part.";

/** Text the guard sees between two channels' texts (it is never yielded). */
const CHANNEL_SEPARATOR = "\n";

const stops = (action: PolicyAction) => action === "regenerate" || action === "block";

/** Whether some verdict of this tier could make the policy stop a response (any category, any probabilities). */
function tierCanStop(policy: Policy, tier: RiskTier): boolean {
  if (policy.response.thresholds.some((t) => stops(t.action))) return true;
  const categories = [undefined, ...(Object.keys(policy.response.categories) as Category[])];
  return categories.some((c) => stops(tierAction(policy, "response", tier, c).action));
}

/**
 * The tiers a token is held back for under a policy and a pair rule: those that can start a pair whose verdict
 * the policy could stop on (block or regenerate). A token of any other tier is cleared as soon as its verdict is
 * known. With the built-in table: strict holds Unsafe and Controversial, loose holds Unsafe (official rule; under
 * the report rule a Controversial token next to an Unsafe one forms an Unsafe pair, so loose holds both). See
 * docs/server.md, "What is held back".
 *
 * @example
 * ```ts
 * import fs from "node:fs";
 * import { heldTiers, loadPolicyFile } from "qwen3guard";
 *
 * fs.writeFileSync("/tmp/loose.yaml", "mode: loose\n");
 * const policy = await loadPolicyFile("/tmp/loose.yaml");
 * console.log(heldTiers(policy), heldTiers(policy, "report")); // ["Unsafe"] ["Unsafe", "Controversial"]
 * ```
 */
export function heldTiers(policy: Policy, rule: StreamRule = "official"): RiskTier[] {
  return RISK_TIERS.filter((a) =>
    RISK_TIERS.some((b) => {
      const tier = pairTrigger(a, b, rule);
      return tier !== undefined && tierCanStop(policy, tier);
    }),
  );
}

/** A FIFO with an awaitable shift. */
class Queue<T> {
  readonly #items: T[] = [];
  #wake: (() => void) | undefined;
  push(item: T): void {
    this.#items.push(item);
    this.#wake?.();
    this.#wake = undefined;
  }
  async shift(): Promise<T> {
    while (this.#items.length === 0) await new Promise<void>((resolve) => (this.#wake = resolve));
    return this.#items.shift()!;
  }
}

function abortable<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (error) => {
        signal.removeEventListener("abort", onAbort);
        reject(error);
      },
    );
  });
}

function textItem(
  item: ModeratedSourceItem<unknown>,
  primary: string,
): { channel: string; text: string } | undefined {
  if (typeof item === "string") return { channel: primary, text: item };
  if (item.type === "text") return { channel: item.channel ?? primary, text: item.text };
  return undefined;
}

/**
 * Where everything sits in the answer as the guard sees it: the token texts (NFC of what was pushed, channels
 * joined by "\n"), the channel of each stretch, the markers by position, and how far the output has gone.
 */
class AnswerLayout<M> {
  /** Concatenated texts of the judged tokens. */
  scored = "";
  /** Offset in `scored` up to which text (and markers) went out. */
  delivered: number;
  readonly runs: { channel: string; start: number; end: number | undefined }[] = [];
  readonly markers: { pos: number; value: M }[] = [];
  #raw = "";
  #nfcLength = 0;
  #simple = true;

  constructor(prefix: string, primary: string) {
    this.runs.push({ channel: primary, start: 0, end: undefined });
    this.#append(prefix);
    this.delivered = this.position;
  }

  /** Offset (in the guard's text) of the end of everything pushed so far. */
  get position(): number {
    return this.runs.at(-1)!.start + this.#runLength();
  }

  /** The text to push for `text` of `channel`. */
  text(channel: string, text: string): string {
    const run = this.runs.at(-1)!;
    if (run.channel === channel || this.#raw.length === 0) {
      run.channel = channel;
      this.#append(text);
      return text;
    }
    run.end = run.start + this.#runLength();
    this.runs.push({ channel, start: run.end + CHANNEL_SEPARATOR.length, end: undefined });
    this.#raw = "";
    this.#nfcLength = 0;
    this.#simple = true;
    this.#append(text);
    return CHANNEL_SEPARATOR + text;
  }

  marker(value: M): void {
    this.markers.push({ pos: this.position, value });
  }

  /** Yield text up to `upTo` (and the markers on the way), split by channel. */
  *release(upTo: number): Generator<ModeratedStreamPart<M>> {
    for (;;) {
      const marker = this.markers[0];
      if (marker !== undefined && marker.pos <= this.delivered) {
        this.markers.shift();
        yield { type: "marker", value: marker.value };
        continue;
      }
      const stop = Math.min(upTo, this.scored.length, marker?.pos ?? Infinity);
      if (stop <= this.delivered) return;
      for (const run of this.runs) {
        const from = Math.max(this.delivered, run.start);
        const to = Math.min(stop, run.end ?? Infinity);
        if (to > from) yield { type: "text", channel: run.channel, text: this.scored.slice(from, to) };
      }
      this.delivered = stop;
    }
  }

  /** The text of `channel` in [0, upTo). */
  channelText(channel: string, upTo: number): string {
    let out = "";
    for (const run of this.runs) {
      if (run.channel !== channel) continue;
      const to = Math.min(upTo, run.end ?? Infinity);
      if (to > run.start) out += this.scored.slice(run.start, to);
    }
    return out;
  }

  /** Whether any text of a channel other than `channel` went out. */
  deliveredOutside(channel: string): boolean {
    return this.runs.some(
      (r) => r.channel !== channel && r.start < this.delivered && (r.end ?? Infinity) > r.start,
    );
  }

  #runLength(): number {
    return this.#simple ? this.#nfcLength : this.#raw.normalize("NFC").length;
  }

  #append(text: string): void {
    // NFC(a + b) = NFC(a) + b when b is NFC and nothing in it can join what precedes it
    if (
      this.#simple &&
      (text.length === 0 ||
        (text === text.normalize("NFC") && (this.#raw.length === 0 || hasNfcBoundaryBefore(text, 0))))
    ) {
      this.#nfcLength += text.length;
    } else {
      this.#simple = false;
    }
    this.#raw += text;
  }
}

/** How one attempt ended. */
type AttemptOutcome =
  | { kind: "completed"; text: string; final: AnswerDecision; decisions: AnswerDecision[]; tokens: number }
  | {
      kind: "stopped";
      text: string;
      stop: AnswerDecision;
      decisions: AnswerDecision[];
      tokens: number;
      /** The answer to continue from (prefix + yielded primary text), or undefined when it cannot be continued. */
      continueFrom: string | undefined;
    };

interface Context<M> {
  options: ModerateTextStreamOptions<M>;
  policy: Policy;
  primary: string;
  signal: AbortSignal;
  maxAhead: number;
}

function pairDecision(
  policy: Policy,
  tier: RiskTier,
  v: StreamTokenVerdict,
  attempt: number,
): AnswerDecision {
  return {
    model: "stream",
    tier,
    categories: [v.category],
    probabilities: v.probabilities,
    decision: decide(policy, {
      direction: "response",
      tier,
      categories: [v.category as Category],
      probabilities: v.probabilities,
    }),
    attempt,
  };
}

function safeDecision(policy: Policy, model: "stream" | "gen", attempt: number): AnswerDecision {
  return {
    model,
    tier: "Safe",
    categories: [],
    decision: decide(policy, { direction: "response", tier: "Safe", categories: [] }),
    attempt,
  };
}

/** One answer (or continuation) through a Stream session. */
async function* streamAttempt<M>(
  ctx: Context<M>,
  session: StreamSession,
  source: ModeratedSource<M>,
  prefix: string,
  attempt: number,
): AsyncGenerator<ModeratedStreamPart<M>, AttemptOutcome> {
  const { policy, primary } = ctx;
  const layout = new AnswerLayout<M>(prefix, primary);
  // Pairs inside text already yielded by an earlier attempt were judged then; a client's prefill was not.
  const judgeAfter = attempt > 0 ? layout.delivered : 0;
  const held = new Set(heldTiers(policy, session.rule));
  const tiers: RiskTier[] = [];
  const starts: number[] = [];
  const decisions: AnswerDecision[] = [];
  const flagged = new Set<string>();
  let firstUnsafe: AnswerDecision | undefined;
  let firstControversial: AnswerDecision | undefined;
  let firstAny: AnswerDecision | undefined;
  let cleared = 0;
  let tokens = 0;

  /** Judge one token; returns the decision when the answer must stop there. */
  const judge = (v: StreamTokenVerdict): AnswerDecision | undefined => {
    const i = tiers.length;
    starts.push(layout.scored.length);
    layout.scored += v.text;
    tiers.push(v.tier);
    tokens++;
    if (i > 0 && layout.scored.length > judgeAfter) {
      const tier = pairTrigger(tiers[i - 1]!, v.tier, session.rule);
      if (tier !== undefined) {
        const d = pairDecision(policy, tier, v, attempt);
        firstAny ??= d;
        if (tier === "Unsafe") firstUnsafe ??= d;
        else firstControversial ??= d;
        if (stops(d.decision.action)) return d;
        const key = `${tier}\u0000${v.category}\u0000${d.decision.action}`;
        if (d.decision.action === "flag" && !flagged.has(key)) {
          flagged.add(key);
          decisions.push(d);
        }
      }
    }
    cleared = Math.max(cleared, held.has(v.tier) ? starts[i]! : layout.scored.length);
    return undefined;
  };

  const stopped = (stop: AnswerDecision): AttemptOutcome => {
    const onlyPrimary = !layout.deliveredOutside(primary);
    return {
      kind: "stopped",
      text: layout.scored,
      stop,
      decisions,
      tokens,
      continueFrom: onlyPrimary ? layout.channelText(primary, layout.delivered) : undefined,
    };
  };

  type Entry =
    | { kind: "push"; verdicts: Promise<StreamTokenVerdict[]> }
    | { kind: "wake" }
    | { kind: "end" }
    | { kind: "error"; error: unknown };
  const entries = new Queue<Entry>();
  const reader = new AbortController();
  const onAbort = () => reader.abort(ctx.signal.reason);
  ctx.signal.addEventListener("abort", onAbort, { once: true });
  let ahead = 0;
  let wakeReader: (() => void) | undefined;
  let iterator: AsyncIterator<ModeratedSourceItem<M>> | undefined;

  const push = (text: string) => {
    const verdicts = session.push(text);
    verdicts.catch(() => undefined);
    ahead++;
    entries.push({ kind: "push", verdicts });
  };
  if (prefix.length > 0) push(prefix);

  const pump = async () => {
    try {
      const iterable = typeof source === "function" ? source(reader.signal) : source;
      iterator = iterable[Symbol.asyncIterator]();
      for (;;) {
        while (ahead >= ctx.maxAhead && !reader.signal.aborted) {
          await new Promise<void>((resolve) => (wakeReader = resolve));
        }
        if (reader.signal.aborted) return;
        const next = await iterator.next();
        if (reader.signal.aborted) return;
        if (next.done) break;
        const text = textItem(next.value, primary);
        if (text === undefined) {
          layout.marker((next.value as { value: M }).value);
          entries.push({ kind: "wake" });
        } else if (text.text.length > 0) {
          push(layout.text(text.channel, text.text));
        }
      }
      entries.push({ kind: "end" });
    } catch (error) {
      if (!reader.signal.aborted) entries.push({ kind: "error", error });
    }
  };
  void pump();

  try {
    for (;;) {
      const entry = await abortable(entries.shift(), ctx.signal);
      if (entry.kind === "error") throw entry.error;
      if (entry.kind === "push") {
        ahead--;
        wakeReader?.();
        wakeReader = undefined;
        for (const v of await abortable(entry.verdicts, ctx.signal)) {
          const stop = judge(v);
          if (stop) {
            yield* layout.release(cleared); // what was cleared before the pair
            return stopped(stop);
          }
        }
      } else if (entry.kind === "end") {
        const end = await abortable(session.end(), ctx.signal);
        for (const v of end.tokens) {
          const stop = judge(v);
          if (stop) {
            yield* layout.release(cleared);
            return stopped(stop);
          }
        }
        cleared = layout.scored.length;
        yield* layout.release(cleared);
        // the whole-answer verdict (an Unsafe pair anywhere beats a Controversial one under the official rule)
        const verdict = session.rule === "official" ? (firstUnsafe ?? firstControversial) : firstAny;
        const final = verdict ?? safeDecision(policy, "stream", attempt);
        return { kind: "completed", text: layout.scored, final, decisions, tokens };
      }
      yield* layout.release(cleared);
    }
  } finally {
    ctx.signal.removeEventListener("abort", onAbort);
    reader.abort(new Error("the moderated stream stopped reading"));
    wakeReader?.();
    // do not wait: a pending next() of an async generator would hold the return until it settles
    void Promise.resolve()
      .then(() => iterator?.return?.())
      .catch(() => undefined);
  }
}

/** One answer (or continuation) judged whole by Gen. */
async function* genAttempt<M>(
  ctx: Context<M>,
  gen: GenGuard,
  source: ModeratedSource<M>,
  prefix: string,
  attempt: number,
): AsyncGenerator<ModeratedStreamPart<M>, AttemptOutcome> {
  const { policy, primary, options } = ctx;
  const reader = new AbortController();
  const onAbort = () => reader.abort(ctx.signal.reason);
  ctx.signal.addEventListener("abort", onAbort, { once: true });
  const held: ModeratedStreamPart<M>[] = [];
  let text = prefix;
  let channel = primary;
  let iterator: AsyncIterator<ModeratedSourceItem<M>> | undefined;
  try {
    const iterable = typeof source === "function" ? source(reader.signal) : source;
    iterator = iterable[Symbol.asyncIterator]();
    for (;;) {
      const next = await abortable(iterator.next(), ctx.signal);
      if (next.done) break;
      const item = textItem(next.value, primary);
      if (item === undefined) {
        const part = { type: "marker" as const, value: (next.value as { value: M }).value };
        // nothing precedes it: it can go at once
        if (held.length === 0) yield part;
        else held.push(part);
      } else if (item.text.length > 0) {
        if (item.channel !== channel && text.length > 0) text += CHANNEL_SEPARATOR;
        channel = item.channel;
        text += item.text;
        held.push({ type: "text", channel: item.channel, text: item.text });
      }
    }
    let judged: AnswerDecision;
    if (text.length === 0) {
      judged = safeDecision(policy, "gen", attempt);
    } else {
      const verdict = await abortable(
        gen.moderate([...options.messages, { role: "assistant", content: text }]),
        ctx.signal,
      );
      judged = {
        model: "gen",
        tier: verdict.tier,
        categories: [...verdict.categories],
        ...(verdict.probabilities ? { probabilities: verdict.probabilities } : {}),
        ...(verdict.refusal ? { refusal: verdict.refusal } : {}),
        decision: decide(policy, verdict),
        attempt,
      };
    }
    if (stops(judged.decision.action)) {
      return { kind: "stopped", text, stop: judged, decisions: [], tokens: 0, continueFrom: prefix };
    }
    yield* held;
    return {
      kind: "completed",
      text,
      final: judged,
      decisions: judged.decision.action === "allow" ? [] : [judged],
      tokens: 0,
    };
  } finally {
    ctx.signal.removeEventListener("abort", onAbort);
    reader.abort(new Error("the moderated stream stopped reading"));
    void Promise.resolve()
      .then(() => iterator?.return?.())
      .catch(() => undefined);
  }
}

function mostSevere(decisions: readonly AnswerDecision[]): AnswerDecision | undefined {
  const order = ["allow", "flag", "regenerate", "block"];
  let best: AnswerDecision | undefined;
  for (const d of decisions) {
    if (best === undefined || order.indexOf(d.decision.action) > order.indexOf(best.decision.action))
      best = d;
  }
  return best;
}

function asBlock(d: AnswerDecision, note: string): AnswerDecision {
  return { ...d, decision: { ...d.decision, action: "block" }, note };
}

/**
 * Moderate an answer while it streams: yields the text the guard has cleared, markers in their place, and a
 * final `end` part with the decision. With a Stream guard (or session) the answer is judged token by token and
 * text goes out as soon as no pair can flag it; with only a Gen guard it is judged whole at the end. The
 * tenant's policy decides each flagged pair: `flag` passes and is recorded, `block` ends the answer before the
 * flagged span, `regenerate` drops the span and continues with `options.regenerate`'s continuation (judged in a
 * new session over the same prompt and the text already yielded), up to `maxRegenerations` times.
 *
 * Breaking out of the iteration (or aborting `signal`) stops reading the source and closes the session.
 * Errors of the source or the guard are thrown after the text cleared before them; held text is never yielded.
 *
 * @example
 * ```ts
 * import { StreamGuard, moderateTextStream } from "qwen3guard";
 * import { writeCraftedStreamModel } from "qwen3guard/testing";
 *
 * // a toy Stream model (" bomb" is Unsafe): its verdicts mean nothing about safety
 * const toy = writeCraftedStreamModel("/tmp/toy-stream");
 * const stream = await StreamGuard.load({ model: toy.dir, quantization: "f32" });
 * async function* llm() {
 *   yield* ["Here is", " a story", " about a", " bomb bomb", " that"];
 * }
 * const messages = [{ role: "user" as const, content: "Tell me a story" }];
 * let text = "";
 * for await (const part of moderateTextStream(llm(), { stream, messages })) {
 *   if (part.type === "text") text += part.text; // send it on
 *   if (part.type === "end") console.log(JSON.stringify(text), part.result.status); // "Here is a story about a" blocked
 * }
 * await stream.close();
 * ```
 */
export async function* moderateTextStream<M = never>(
  source: ModeratedSource<M>,
  options: ModerateTextStreamOptions<M>,
): AsyncGenerator<ModeratedStreamPart<M>, void, undefined> {
  const streamGuard = options.stream;
  const useStream = options.session !== undefined || streamGuard !== undefined;
  if (!useStream && options.gen === undefined) {
    throw new TypeError("moderateTextStream needs a Stream guard, a Stream session or a Gen guard");
  }
  const controller = new AbortController();
  const onAbort = () => controller.abort(options.signal!.reason);
  // an already aborted signal ends the iteration at its first wait, and a given session is still closed
  if (options.signal?.aborted) controller.abort(options.signal.reason);
  else options.signal?.addEventListener("abort", onAbort, { once: true });
  const ctx: Context<M> = {
    options,
    policy: options.policy ?? emptyPolicy(),
    primary: options.primaryChannel ?? "content",
    signal: controller.signal,
    maxAhead: Math.max(1, options.maxAhead ?? 256),
  };
  const model = useStream ? "stream" : "gen";
  const maxRegenerations = Math.max(0, options.maxRegenerations ?? 2);
  let session = options.session;
  let current = source;
  let prefix = options.prefix ?? "";
  const decisions: AnswerDecision[] = [];
  let regenerations = 0;
  let tokens = 0;
  try {
    for (let attempt = 0; ; attempt++) {
      let outcome: AttemptOutcome;
      if (useStream) {
        session ??= await abortable(
          streamGuard!.openStream(options.messages, { ...options.sessionOptions, signal: ctx.signal }),
          ctx.signal,
        );
        outcome = yield* streamAttempt(ctx, session, current, prefix, attempt);
      } else {
        outcome = yield* genAttempt(ctx, options.gen!, current, prefix, attempt);
      }
      tokens += outcome.tokens;
      decisions.push(...outcome.decisions);
      if (outcome.kind === "completed") {
        const final = mostSevere([outcome.final, ...outcome.decisions])!;
        const decision = mostSevere([final, ...decisions])!;
        yield {
          type: "end",
          result: {
            status: "completed",
            model,
            decision,
            final,
            decisions,
            regenerations,
            text: outcome.text,
            tokens,
          },
        };
        return;
      }
      let stop = outcome.stop;
      if (stop.decision.action === "regenerate") {
        let next: ModeratedSource<M> | undefined;
        if (options.regenerate === undefined) {
          stop = asBlock(stop, "regenerate is not available here: blocked");
        } else if (regenerations >= maxRegenerations) {
          stop = asBlock(stop, `regenerate: ${regenerations} continuations were flagged too: blocked`);
        } else if (outcome.continueFrom === undefined) {
          stop = asBlock(
            stop,
            "regenerate: the answer so far is not only plain text (a tool call?): blocked",
          );
        } else {
          if (session !== undefined) {
            const old = session;
            session = undefined;
            await old.close();
          }
          next = await abortable(
            Promise.resolve(
              options.regenerate({
                attempt: regenerations + 1,
                prefix: outcome.continueFrom,
                decision: stop,
                text: outcome.text,
                signal: ctx.signal,
              }),
            ),
            ctx.signal,
          );
          if (next === undefined)
            stop = asBlock(stop, "regenerate: no continuation could be requested: blocked");
        }
        if (next !== undefined) {
          decisions.push(stop);
          regenerations++;
          yield { type: "regenerate", attempt: regenerations, decision: stop };
          prefix = outcome.continueFrom!;
          current = next;
          continue;
        }
      }
      decisions.push(stop);
      yield {
        type: "end",
        result: {
          status: "blocked",
          model,
          decision: stop,
          final: stop,
          decisions,
          regenerations,
          text: outcome.text,
          tokens,
        },
      };
      return;
    }
  } finally {
    options.signal?.removeEventListener("abort", onAbort);
    controller.abort(new Error("the moderated stream ended"));
    await session?.close().catch(() => undefined);
  }
}
