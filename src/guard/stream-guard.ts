/**
 * Qwen3Guard-Stream moderation: the backbone on llama.cpp (koffi binding, or node-llama-cpp's one-token path as
 * a fallback), the heads in JS, one KV sequence per live session.
 *
 *   const guard = await StreamGuard.load({ model: "Qwen/Qwen3Guard-Stream-0.6B" });
 *   const session = await guard.openStream(messages);      // prompt verdict: session.prompt
 *   session.onTrigger((t) => stopGenerating(t));
 *   for await (const chunk of llm) await session.push(chunk); // text: strings or UTF-8 bytes
 *   const { verdict } = await session.end();
 *   await session.close();
 *
 * See docs/stream.md.
 */
import { parseChatMessages, InvalidConversationError, type ChatMessage } from "../core/messages.js";
import { renderStreamPrompt, STREAM_ASSISTANT_HEADER } from "../core/prompt/stream-prompt.js";
import { DecodeCoalescer, type CoalescerStats } from "../engine/stream/decode-coalescer.js";
import type { HiddenStateEngine } from "../engine/stream/hidden-state-engine.js";
import { loadHiddenStateEngine } from "../engine/stream/load-engine.js";
import {
  resolveEngineOptions,
  type EngineOptions,
  type ResolvedEngineOptions,
} from "../engine/engine-options.js";
import { StreamScorer } from "../engine/stream/stream-scoring.js";
import type { QwenTokenizer } from "../model/tokenizer/index.js";
import {
  prepareRemoteStreamAssets,
  prepareStreamAssets,
  StreamAssetsError,
  type RemoteStreamAssets,
  type StreamAssets,
  type StreamAssetsOptions,
} from "../model/stream-assets.js";
import { RemoteHiddenStateEngine } from "../engine/remote/remote-hidden-state-engine.js";
import { StreamContextFullError, StreamGuardClosedError, StreamInputError } from "./stream-errors.js";
import { openSession, promptVerdictOf, sessionSettings, type StreamSession } from "./stream-session.js";
import { deepFreeze, modelInfo, syntheticInfo, type StreamGuardInfo } from "./guard-info.js";
import { StreamSlotPool } from "./stream-slots.js";
import type {
  StreamAnswerVerdict,
  StreamPromptVerdict,
  StreamSessionOptions,
  StreamTokenVerdict,
  StreamTrigger,
} from "./stream-types.js";

/**
 * Session settings a guard sets for all its sessions, in `StreamGuard.load` (each session may override them in
 * `openStream`): the pair rule, the mode, the listener-error handler.
 *
 * @example
 * ```ts
 * import { StreamGuard, type StreamSessionDefaults } from "qwen3guard";
 *
 * const defaults: StreamSessionDefaults = { rule: "official", mode: "loose", onListenerError: (e) => console.error(e) };
 * const guard = await StreamGuard.load({ model: "/models/Qwen3Guard-Stream-0.6B", ...defaults });
 * await guard.close();
 * ```
 */
export type StreamSessionDefaults = Pick<StreamSessionOptions, "rule" | "mode" | "onListenerError">;

/**
 * Options of `StreamGuard.load`: the model (a Qwen3Guard-Stream folder, a pulled hub name, or a backbone GGUF with
 * `heads`), how a folder is converted and cached, hub access, every engine option (EngineOptions: `sequences` is
 * the number of sessions open at once), and the session defaults.
 *
 * @example
 * ```ts
 * import { StreamGuard, type StreamGuardOptions } from "qwen3guard";
 *
 * const options: StreamGuardOptions = {
 *   model: "/models/Qwen3Guard-Stream-0.6B",
 *   sequences: 8, // eight live answers at once
 *   contextSize: 2048,
 *   mode: "strict",
 * };
 * const guard = await StreamGuard.load(options);
 * console.log(guard.info.sequences); // 8
 * await guard.close();
 * ```
 */
export interface StreamGuardOptions extends StreamAssetsOptions, EngineOptions, StreamSessionDefaults {
  /** A Qwen3Guard-Stream folder, a hub name pulled earlier, or a backbone GGUF (then `heads` is required). */
  model: string;
}

/**
 * The result of moderating a complete conversation with `StreamGuard.moderate`: the prompt verdict, the verdict of
 * every answer token, where a live stream would have stopped, and the whole-answer verdict.
 *
 * @example
 * ```ts
 * import { StreamGuard, type StreamModeration } from "qwen3guard";
 *
 * const guard = await StreamGuard.load({ model: "/models/Qwen3Guard-Stream-0.6B" });
 * const result: StreamModeration = await guard.moderate([
 *   { role: "user", content: "Tell me a story" },
 *   { role: "assistant", content: "Once upon a time..." },
 * ]);
 * console.log(result.prompt.tier, result.tokens.length, result.trigger?.index, result.response.tier);
 * await guard.close();
 * ```
 */
export interface StreamModeration {
  prompt: StreamPromptVerdict;
  /** Per answer token (empty when the conversation has no answer). */
  tokens: StreamTokenVerdict[];
  /** Where a live stream would have stopped, if anywhere. */
  trigger: StreamTrigger | undefined;
  /** The whole-answer verdict. */
  response: StreamAnswerVerdict;
}

/**
 * Decode counts of a Stream guard, all its sessions together (`guard.stats`, a snapshot): engine decodes, tokens
 * decoded, and the most tokens and sequences one decode carried (sessions' tokens are batched together).
 *
 * @example
 * ```ts
 * import { StreamGuard, type StreamGuardStats } from "qwen3guard";
 *
 * const guard = await StreamGuard.load({ model: "/models/Qwen3Guard-Stream-0.6B" });
 * await guard.moderate([{ role: "user", content: "Hi" }, { role: "assistant", content: "Hello there." }]);
 * const stats: StreamGuardStats = guard.stats;
 * console.log(stats.tokens / stats.decodes); // tokens per decode
 * await guard.close();
 * ```
 */
export type StreamGuardStats = Readonly<CoalescerStats>;

/**
 * What tests and benchmarks reach behind StreamGuard's public API (the engine, to time or fault-inject it; the
 * decode coalescer; the tokenizer; the model files). Not exported from the package entry: not part of the stable
 * API.
 * @internal
 */
export interface StreamGuardInternals {
  readonly engine: HiddenStateEngine;
  readonly coalescer: DecodeCoalescer;
  readonly tokenizer: QwenTokenizer;
  readonly assets: StreamAssets | RemoteStreamAssets;
}

let internalsOf: (guard: StreamGuard) => StreamGuardInternals;

/**
 * Qwen3Guard-Stream moderation: the prompt's verdict, then every token of an answer while an LLM generates it,
 * stopping at the first pair of flagged tokens. One session per conversation, up to `sequences` at once.
 *
 * @example
 * ```ts
 * import { StreamGuard } from "qwen3guard";
 *
 * const guard = await StreamGuard.load({ model: "/models/Qwen3Guard-Stream-0.6B" });
 * const session = await guard.openStream([{ role: "user", content: "Tell me a story" }]);
 * session.onTrigger((t) => console.log("stop:", t.tier, "at token", t.index));
 * for (const chunk of ["Once upon", " a time..."]) await session.push(chunk);
 * console.log((await session.end()).verdict.tier);
 * await session.close();
 * await guard.close();
 * ```
 */
export class StreamGuard {
  readonly #engine: HiddenStateEngine;
  readonly #assets: StreamAssets | RemoteStreamAssets;
  readonly #scorer: StreamScorer;
  readonly #coalescer: DecodeCoalescer;
  readonly #defaults: StreamSessionDefaults;
  readonly #pool: StreamSlotPool;
  readonly #headerIds: number[];
  readonly #sessions = new Set<StreamSession>();
  readonly #info: StreamGuardInfo;
  #closed = false;

  static {
    internalsOf = (guard) => ({
      engine: guard.#engine,
      coalescer: guard.#coalescer,
      tokenizer: guard.#assets.tokenizer,
      assets: guard.#assets,
    });
  }

  private constructor(
    engine: HiddenStateEngine,
    assets: StreamAssets | RemoteStreamAssets,
    defaults: StreamSessionDefaults,
    engineOptions: ResolvedEngineOptions,
  ) {
    this.#engine = engine;
    this.#assets = assets;
    this.#scorer = new StreamScorer(assets.heads);
    this.#coalescer = new DecodeCoalescer(engine);
    this.#defaults = defaults;
    this.#pool = new StreamSlotPool(engine.sequences);
    // template text: its special tokens are real
    this.#headerIds = assets.tokenizer.encode(STREAM_ASSISTANT_HEADER, { specials: true });
    this.#info = deepFreeze({
      kind: "stream",
      model: modelInfo(assets.resolved, assets.ggufPath),
      synthetic: syntheticInfo(assets.synthetic),
      engine: engine.kind,
      device: engine.device,
      contextSize: engine.contextSize,
      sequences: engine.sequences,
      kvCache: engine instanceof RemoteHiddenStateEngine ? undefined : engineOptions.kvCache,
      ...(engine instanceof RemoteHiddenStateEngine
        ? {
            remote: {
              backends: engine.pool.clients.map((c) => ({
                name: c.backend.name,
                kind: c.backend.kind,
                url: c.backend.url,
              })),
            },
          }
        : {}),
      labels: { ...this.#scorer.labels },
    });
    if (engine instanceof RemoteHiddenStateEngine) engine.pool.startHealthChecks();
  }

  /**
   * Load a Qwen3Guard-Stream model: the backbone on llama.cpp (a Hugging Face folder is converted to GGUF once,
   * cached), the heads read from the safetensors. Session defaults (`rule`, `mode`, `onListenerError`) may be
   * given here.
   * @throws ModelSpecError, StreamAssetsError, EngineOptionsError, StreamInputError (a bad session default)...
   *
   * @example
   * ```ts
   * import { StreamGuard } from "qwen3guard";
   *
   * const guard = await StreamGuard.load({ model: "/models/Qwen3Guard-Stream-0.6B" });
   * console.log(guard.info.engine, guard.info.sequences, guard.info.labels.responseCategories.length);
   * await guard.close();
   * ```
   */
  static async load(options: StreamGuardOptions): Promise<StreamGuard> {
    const engineOptions = resolveEngineOptions(options);
    const defaults: StreamSessionDefaults = {
      rule: options.rule,
      mode: options.mode,
      onListenerError: options.onListenerError,
    };
    sessionSettings(defaults, {}); // a bad default fails the load, not the first openStream
    if (engineOptions.engine === "remote") {
      const assets = await prepareRemoteStreamAssets(options.model, options);
      const engine = new RemoteHiddenStateEngine(
        engineOptions.remote!,
        assets.heads.hiddenSize,
        engineOptions.sequences,
        engineOptions.contextSize,
        engineOptions.warn,
      );
      return new StreamGuard(engine, assets, defaults, engineOptions);
    }
    const assets = await prepareStreamAssets(options.model, options);
    const engine = await loadHiddenStateEngine({ ...engineOptions, ggufPath: assets.ggufPath });
    try {
      if (engine.hiddenSize !== assets.heads.hiddenSize) {
        throw new StreamAssetsError(
          `the backbone ${assets.ggufPath} has hidden size ${engine.hiddenSize} but the heads (${assets.heads.source}) expect ${assets.heads.hiddenSize}: they come from different models`,
        );
      }
      return new StreamGuard(engine, assets, defaults, engineOptions);
    } catch (error) {
      await engine.dispose();
      throw error;
    }
  }

  /**
   * The model and how it runs (read-only): name and path, kind, whether the weights are synthetic, engine,
   * device, context size, sequences (sessions open at once), KV cache type, and the heads' class names.
   *
   * @example
   * ```ts
   * import { StreamGuard } from "qwen3guard";
   *
   * const guard = await StreamGuard.load({ model: "/models/Qwen3Guard-Stream-0.6B" });
   * if (guard.info.synthetic) console.warn(`synthetic (${guard.info.synthetic}) weights: verdicts mean nothing`);
   * console.log(guard.info.model.name, guard.info.labels.queryCategories.join(", "));
   * await guard.close();
   * ```
   */
  get info(): StreamGuardInfo {
    return this.#info;
  }

  /**
   * Sessions open now (at most `info.sequences`; more `openStream` calls wait or throw, see `whenFull`).
   *
   * @example
   * ```ts
   * import { StreamGuard } from "qwen3guard";
   *
   * const guard = await StreamGuard.load({ model: "/models/Qwen3Guard-Stream-0.6B" });
   * const session = await guard.openStream([{ role: "user", content: "Hi" }]);
   * console.log(guard.openSessions); // 1
   * await session.close();
   * console.log(guard.openSessions); // 0
   * await guard.close();
   * ```
   */
  get openSessions(): number {
    return this.#sessions.size;
  }

  /**
   * Decode counts over all sessions (a snapshot): decodes, tokens, and the most tokens / sessions one decode
   * carried — pushes made while a decode runs are coalesced into the next one.
   *
   * @example
   * ```ts
   * import { StreamGuard } from "qwen3guard";
   *
   * const guard = await StreamGuard.load({ model: "/models/Qwen3Guard-Stream-0.6B" });
   * const session = await guard.openStream([{ role: "user", content: "Hi" }]);
   * await session.push("Hello! How can I help you today?");
   * const { decodes, tokens } = guard.stats;
   * console.log(`${tokens} tokens in ${decodes} decodes`);
   * await session.close();
   * await guard.close();
   * ```
   */
  get stats(): StreamGuardStats {
    return Object.freeze({ ...this.#coalescer.stats });
  }

  /**
   * The token ids of a conversation's prompt part, up to and including the last user turn's `<|im_end|>` (what
   * `openStream` feeds before the assistant header).
   *
   * @example
   * ```ts
   * import { StreamGuard } from "qwen3guard";
   *
   * const guard = await StreamGuard.load({ model: "/models/Qwen3Guard-Stream-0.6B" });
   * const ids = guard.promptIds([{ role: "user", content: "Hello" }]);
   * console.log(ids.length);
   * await guard.close();
   * ```
   */
  promptIds(messages: readonly ChatMessage[]): number[] {
    const rendered = renderStreamPrompt(parseChatMessages(messages));
    return this.#assets.tokenizer.encodeSegments(rendered.promptSegments).ids;
  }

  /**
   * Start moderating a conversation whose last message is the user's: feeds the prompt and the assistant header
   * in one decode, and returns a session holding the prompt verdict (`session.prompt`). When every session is
   * taken, waits for one (default, first come first served) or throws StreamCapacityError (`whenFull: "throw"`);
   * `signal` stops the wait.
   * @throws InvalidConversationError, StreamContextFullError, StreamCapacityError, StreamGuardClosedError,
   * StreamInputError (a bad option)
   *
   * @example
   * ```ts
   * import { StreamGuard } from "qwen3guard";
   *
   * const guard = await StreamGuard.load({ model: "/models/Qwen3Guard-Stream-0.6B" });
   * const session = await guard.openStream([{ role: "user", content: "How do I bake bread?" }], {
   *   mode: "loose", // stop on Unsafe pairs only
   *   whenFull: "throw",
   * });
   * console.log(session.prompt.tier);
   * await session.close();
   * await guard.close();
   * ```
   */
  async openStream(
    messages: readonly ChatMessage[],
    options: StreamSessionOptions = {},
  ): Promise<StreamSession> {
    if (this.#closed) throw new StreamGuardClosedError("the Stream guard was closed");
    const settings = sessionSettings(this.#defaults, options);
    const conversation = parseChatMessages(messages);
    const rendered = renderStreamPrompt(conversation);
    if (rendered.response !== undefined) {
      throw new InvalidConversationError(
        "openStream takes the conversation up to the last user message; push the assistant answer into the session (or use moderate() for a finished answer)",
      );
    }
    const promptIds = this.#assets.tokenizer.encodeSegments(rendered.promptSegments).ids;
    const prefix = [...promptIds, ...this.#headerIds];
    if (prefix.length > this.#engine.contextSize)
      throw new StreamContextFullError(prefix.length, this.#engine.contextSize);
    const seq = await this.#pool.acquire((options.whenFull ?? "wait") === "wait", options.signal);
    try {
      if (this.#closed) throw new StreamGuardClosedError("the Stream guard was closed");
      await this.#engine.open(seq);
      const states = await this.#coalescer.submit(seq, prefix);
      const prompt = promptVerdictOf(this.#scorer.prompt(states[promptIds.length - 1]!), promptIds.length);
      // close() ran during the prompt's decode: it did not see this session, and the engine is going away
      if (this.#closed) throw new StreamGuardClosedError("the Stream guard was closed");
      const session: StreamSession = openSession(
        {
          engine: this.#engine,
          coalescer: this.#coalescer,
          scorer: this.#scorer,
          tokenizer: this.#assets.tokenizer,
          vocabSize: this.#assets.config.vocabSize,
          release: (s) => {
            this.#sessions.delete(session);
            this.#pool.release(s);
          },
        },
        seq,
        prompt,
        prefix.length,
        settings,
      );
      this.#sessions.add(session);
      return session;
    } catch (error) {
      await this.#engine.close(seq).catch(() => undefined);
      this.#pool.release(seq);
      throw error;
    }
  }

  /**
   * The backbone's hidden state (after the final norm) at every position of `ids`, fed from an empty sequence: the
   * heads' input. What `POST /pooling` and `POST /embeddings` of `qwen3guard serve` answer, so that a Stream guard
   * elsewhere can use this one's backbone as its remote engine. Takes a session slot while it runs (waits, FIFO,
   * like `openStream`).
   * @throws StreamInputError (an id outside the vocabulary, no ids), StreamContextFullError, StreamGuardClosedError,
   *         StreamCapacityError (`signal` aborted the wait)
   *
   * @example
   * ```ts
   * import { StreamGuard } from "qwen3guard";
   *
   * const guard = await StreamGuard.load({ model: "/models/Qwen3Guard-Stream-0.6B" });
   * const states = await guard.hiddenStates(guard.promptIds([{ role: "user", content: "Hi" }]));
   * console.log(states.length, states[0]!.length); // one per token, hidden size wide
   * await guard.close();
   * ```
   */
  async hiddenStates(
    ids: readonly number[],
    options: { signal?: AbortSignal } = {},
  ): Promise<Float32Array[]> {
    if (this.#closed) throw new StreamGuardClosedError("the Stream guard was closed");
    const vocabSize = this.#assets.config.vocabSize;
    if (ids.length === 0) throw new StreamInputError("hiddenStates needs at least one token id");
    for (const id of ids) {
      if (!Number.isInteger(id) || id < 0 || id >= vocabSize)
        throw new StreamInputError(`token id ${id} is not in the vocabulary (size ${vocabSize})`);
    }
    if (ids.length > this.#engine.contextSize)
      throw new StreamContextFullError(ids.length, this.#engine.contextSize);
    const seq = await this.#pool.acquire(true, options.signal);
    try {
      if (this.#closed) throw new StreamGuardClosedError("the Stream guard was closed");
      await this.#engine.open(seq);
      return await this.#coalescer.submit(seq, ids);
    } finally {
      await this.#engine.close(seq).catch(() => undefined);
      this.#pool.release(seq);
    }
  }

  /**
   * Moderate a finished conversation: the prompt verdict, and when the last message is an assistant answer,
   * its per-token verdicts, where a live stream would have stopped, and the whole-answer verdict.
   *
   * @example
   * ```ts
   * import { StreamGuard } from "qwen3guard";
   *
   * const guard = await StreamGuard.load({ model: "/models/Qwen3Guard-Stream-0.6B" });
   * const result = await guard.moderate([
   *   { role: "user", content: "Tell me a story" },
   *   { role: "assistant", content: "Once upon a time there was a quiet village." },
   * ]);
   * console.log(result.prompt.tier, result.tokens.length, result.trigger?.index, result.response.tier);
   * await guard.close();
   * ```
   */
  async moderate(
    messages: readonly ChatMessage[],
    options: Omit<StreamSessionOptions, "whenFull"> = {},
  ): Promise<StreamModeration> {
    const conversation = parseChatMessages(messages);
    const answer = renderStreamPrompt(conversation).response;
    const head = answer === undefined ? conversation : conversation.slice(0, -1);
    const session = await this.openStream(head, options);
    try {
      const tokens = answer === undefined ? [] : await session.push(answer);
      const end = await session.end();
      tokens.push(...end.tokens);
      return { prompt: session.prompt, tokens, trigger: session.trigger, response: end.verdict };
    } finally {
      await session.close();
    }
  }

  /**
   * Close every session, stop every wait for one (StreamGuardClosedError), and free the model. Idempotent.
   *
   * @example
   * ```ts
   * import { StreamGuard } from "qwen3guard";
   *
   * const guard = await StreamGuard.load({ model: "/models/Qwen3Guard-Stream-0.6B" });
   * const session = await guard.openStream([{ role: "user", content: "Hi" }]);
   * await guard.close(); // closes the session too
   * console.log(session.state); // "closed"
   * await guard.close();
   * ```
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#pool.rejectAll(new StreamGuardClosedError("the Stream guard was closed"));
    await Promise.all([...this.#sessions].map((s) => s.close().catch(() => undefined)));
    await this.#engine.dispose();
  }

  /**
   * `await using guard = await StreamGuard.load(...)` closes the guard at the end of the scope.
   *
   * @example
   * ```ts
   * import { StreamGuard } from "qwen3guard";
   *
   * const guard = await StreamGuard.load({ model: "/models/Qwen3Guard-Stream-0.6B" });
   * await guard[Symbol.asyncDispose](); // what `await using` calls
   * ```
   */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/**
 * The engine, coalescer, tokenizer and model files behind a StreamGuard, for tests and benchmarks. Not exported
 * from the package entry: not part of the stable API.
 * @internal
 */
export function streamGuardInternals(guard: StreamGuard): StreamGuardInternals {
  return internalsOf(guard);
}
