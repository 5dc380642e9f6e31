/**
 * Qwen3Guard-Stream moderation: the backbone on llama.cpp (koffi binding, or node-llama-cpp's one-token path as
 * a fallback), the heads in JS, one KV sequence per live session.
 *
 *   const guard = await StreamGuard.load({ model: "Qwen/Qwen3Guard-Stream-0.6B" });
 *   const session = await guard.openStream(messages);      // prompt verdict: session.prompt
 *   session.onTrigger((t) => stopGenerating(t));
 *   for await (const chunk of llm) await session.push(chunk); // text or token ids
 *   const { verdict } = await session.end();
 *   await session.close();
 *
 * See docs/stream.md.
 */
import { parseChatMessages, InvalidConversationError, type ChatMessage } from "../core/messages.js";
import { renderStreamPrompt, STREAM_ASSISTANT_HEADER } from "../core/prompt/stream-prompt.js";
import { DecodeCoalescer } from "../engine/stream/decode-coalescer.js";
import type { HiddenStateEngine } from "../engine/stream/hidden-state-engine.js";
import { loadHiddenStateEngine } from "../engine/stream/load-engine.js";
import { resolveEngineOptions, type EngineOptions } from "../engine/engine-options.js";
import { StreamScorer, type StreamLabels } from "../engine/stream/stream-scoring.js";
import {
  prepareStreamAssets,
  StreamAssetsError,
  type StreamAssets,
  type StreamAssetsOptions,
} from "../model/stream-assets.js";
import { StreamContextFullError, StreamGuardClosedError } from "./stream-errors.js";
import { StreamSession, promptVerdictOf, sessionSettings } from "./stream-session.js";
import { StreamSlotPool } from "./stream-slots.js";
import type {
  StreamAnswerVerdict,
  StreamPromptVerdict,
  StreamSessionOptions,
  StreamTokenVerdict,
  StreamTrigger,
} from "./stream-types.js";

/** Session settings a guard sets for all its sessions (each session may override them in `openStream`). */
export type StreamSessionDefaults = Pick<StreamSessionOptions, "rule" | "mode" | "onListenerError">;

export interface StreamGuardOptions extends StreamAssetsOptions, EngineOptions, StreamSessionDefaults {
  /** A Qwen3Guard-Stream folder, a hub name pulled earlier, or a backbone GGUF (then `heads` is required). */
  model: string;
}

/** Result of moderating a complete conversation (`moderate`). */
export interface StreamModeration {
  prompt: StreamPromptVerdict;
  /** Per answer token (empty when the conversation has no answer). */
  tokens: StreamTokenVerdict[];
  /** Where a live stream would have stopped, if anywhere. */
  trigger: StreamTrigger | undefined;
  /** The whole-answer verdict. */
  response: StreamAnswerVerdict;
}

export class StreamGuard {
  private readonly pool: StreamSlotPool;
  private readonly headerIds: number[];
  private readonly sessions = new Set<StreamSession>();
  private closed = false;

  private constructor(
    readonly engine: HiddenStateEngine,
    readonly assets: StreamAssets,
    readonly scorer: StreamScorer,
    readonly coalescer: DecodeCoalescer,
    private readonly defaults: StreamSessionDefaults,
  ) {
    this.pool = new StreamSlotPool(engine.sequences);
    // template text: its special tokens are real
    this.headerIds = assets.tokenizer.encode(STREAM_ASSISTANT_HEADER, { specials: true });
  }

  static async load(options: StreamGuardOptions): Promise<StreamGuard> {
    const engineOptions = resolveEngineOptions(options);
    const defaults: StreamSessionDefaults = {
      rule: options.rule,
      mode: options.mode,
      onListenerError: options.onListenerError,
    };
    sessionSettings(defaults, {}); // a bad default fails the load, not the first openStream
    const assets = await prepareStreamAssets(options.model, options);
    const engine = await loadHiddenStateEngine({ ...engineOptions, ggufPath: assets.ggufPath });
    try {
      if (engine.hiddenSize !== assets.heads.hiddenSize) {
        throw new StreamAssetsError(
          `the backbone ${assets.ggufPath} has hidden size ${engine.hiddenSize} but the heads (${assets.heads.source}) expect ${assets.heads.hiddenSize}: they come from different models`,
        );
      }
      return new StreamGuard(
        engine,
        assets,
        new StreamScorer(assets.heads),
        new DecodeCoalescer(engine),
        defaults,
      );
    } catch (error) {
      await engine.dispose();
      throw error;
    }
  }

  /** Which engine runs the backbone: "llama-ffi" or "node-llama-cpp". */
  get engineKind(): HiddenStateEngine["kind"] {
    return this.engine.kind;
  }

  /** Sessions that can be open at once (the engine's `sequences`). */
  get maxSessions(): number {
    return this.engine.sequences;
  }

  /** Sessions open now. */
  get openSessions(): number {
    return this.sessions.size;
  }

  /** Label names from config.json. */
  get labels(): StreamLabels {
    return this.scorer.labels;
  }

  /** Token ids of the prompt part of a conversation (up to and including the last user turn's `<|im_end|>`). */
  promptIds(messages: readonly ChatMessage[]): number[] {
    const rendered = renderStreamPrompt(parseChatMessages(messages));
    return this.assets.tokenizer.encodeSegments(rendered.promptSegments).ids;
  }

  /**
   * Start moderating a conversation whose last message is the user's: feeds the prompt and the assistant header
   * in one decode, and returns a session holding the prompt verdict (`session.prompt`). When every session is
   * taken, waits for one (default) or throws StreamCapacityError (`whenFull: "throw"`).
   */
  async openStream(
    messages: readonly ChatMessage[],
    options: StreamSessionOptions = {},
  ): Promise<StreamSession> {
    if (this.closed) throw new StreamGuardClosedError("the Stream guard was closed");
    const settings = sessionSettings(this.defaults, options);
    const conversation = parseChatMessages(messages);
    const rendered = renderStreamPrompt(conversation);
    if (rendered.response !== undefined) {
      throw new InvalidConversationError(
        "openStream takes the conversation up to the last user message; push the assistant answer into the session (or use moderate() for a finished answer)",
      );
    }
    const promptIds = this.assets.tokenizer.encodeSegments(rendered.promptSegments).ids;
    const prefix = [...promptIds, ...this.headerIds];
    if (prefix.length > this.engine.contextSize)
      throw new StreamContextFullError(prefix.length, this.engine.contextSize);
    const seq = await this.pool.acquire((options.whenFull ?? "wait") === "wait", options.signal);
    try {
      if (this.closed) throw new StreamGuardClosedError("the Stream guard was closed");
      await this.engine.open(seq);
      const states = await this.coalescer.submit(seq, prefix);
      const prompt = promptVerdictOf(this.scorer.prompt(states[promptIds.length - 1]!), promptIds.length);
      // close() ran during the prompt's decode: it did not see this session, and the engine is going away
      if (this.closed) throw new StreamGuardClosedError("the Stream guard was closed");
      const session = new StreamSession(
        {
          engine: this.engine,
          coalescer: this.coalescer,
          scorer: this.scorer,
          tokenizer: this.assets.tokenizer,
          vocabSize: this.assets.config.vocabSize,
          release: (s) => {
            this.sessions.delete(session);
            this.pool.release(s);
          },
        },
        seq,
        prompt,
        prefix.length,
        settings,
      );
      this.sessions.add(session);
      return session;
    } catch (error) {
      await this.engine.close(seq).catch(() => undefined);
      this.pool.release(seq);
      throw error;
    }
  }

  /**
   * Moderate a finished conversation: the prompt verdict, and when the last message is an assistant answer,
   * its per-token verdicts, the stop point and the whole-answer verdict.
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

  /** Close every session and free the engine. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.pool.rejectAll(new StreamGuardClosedError("the Stream guard was closed"));
    await Promise.all([...this.sessions].map((s) => s.close().catch(() => undefined)));
    await this.engine.dispose();
  }
}
