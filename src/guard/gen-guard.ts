/**
 * Qwen3Guard-Gen moderation: render the conversation with the model's template, tokenize template text and
 * message content apart (content can never forge special tokens), and decide on the embedded llama.cpp engine.
 *
 * Two modes:
 * - `fast` (default): reuses the KV state of the template head, reads the tier from one next-token
 *   distribution after `Safety:`, decodes the rest held to the output format: every output parses.
 * - `reference`: what the official Python does — the rendered text tokenized with special tokens enabled,
 *   plain greedy generation of up to 128 tokens, the official regexes. For comparisons, not for untrusted input.
 */
import { isUnsafeUnder, type Direction } from "../core/labels.js";
import { parseChatMessages, type ChatMessage } from "../core/messages.js";
import { parseGenOutputReference, GenOutputParseError } from "../core/parse/gen-output.js";
import { renderGenPrompt, type GenPrompt, type SystemMessagePolicy } from "../core/prompt/gen-prompt.js";
import { joinSegments } from "../core/segments.js";
import type { GenOutput, Verdict } from "../core/verdict.js";
import { decodeConstrained } from "../engine/gen/constrained-decoder.js";
import { checkFits, type GenEngine } from "../engine/gen/gen-engine.js";
import { completeOnEngine, type CompletionRequest, type CompletionResult } from "../engine/gen/completion.js";
import { EngineUnavailableError } from "../engine/load-backend.js";
import { TokenizerUsageError } from "../model/tokenizer/index.js";
import { loadGenEngine } from "../engine/gen/load-gen-engine.js";
import {
  EngineOptionsError,
  resolveEngineOptions,
  type EngineOptions,
  type ResolvedEngineOptions,
} from "../engine/engine-options.js";
import { templateHeads } from "../engine/gen/template-heads.js";
import { buildGenOutputVocabulary, type GenOutputVocabulary } from "../engine/gen/output-vocabulary.js";
import { RemoteGenEngine } from "../engine/remote/remote-gen-engine.js";
import { renderGenPromptWithTemplate } from "../model/chat-template.js";
import {
  prepareGenAssets,
  prepareRemoteGenAssets,
  type GenAssets,
  type GenAssetsOptions,
  type RemoteGenAssets,
} from "../model/gen-assets.js";
import type { QwenTokenizer } from "../model/tokenizer/index.js";
import { deepFreeze, modelInfo, syntheticInfo, type GenGuardInfo } from "./guard-info.js";

/**
 * How GenGuard decides (`ModerateOptions.mode`): `fast` (default: the template head's KV state reused, the tier
 * read from one next-token distribution, the rest decoded held to the format) or `reference` (what the official
 * Python does, special tokens parsed everywhere: for comparisons, not for untrusted input).
 *
 * @example
 * ```ts
 * import { GenGuard, type GenMode } from "qwen3guard";
 *
 * const mode: GenMode = "reference";
 * const guard = await GenGuard.load({ model: "/models/Qwen3Guard-Gen-0.6B" });
 * const verdict = await guard.moderate([{ role: "user", content: "How do I bake bread?" }], { mode });
 * console.log(verdict.raw); // the model's text, decoded greedily
 * await guard.close();
 * ```
 */
export type GenMode = "fast" | "reference";

/**
 * Options of `GenGuard.load`: the model (a folder, a GGUF file or a pulled hub name), how a folder is converted
 * and where it is cached, hub access, the template, and every engine option (EngineOptions).
 *
 * @example
 * ```ts
 * import { GenGuard, type GenGuardOptions } from "qwen3guard";
 *
 * const options: GenGuardOptions = {
 *   model: "/models/Qwen3Guard-Gen-0.6B", // a Hugging Face folder: converted to GGUF once, cached
 *   quantization: "q8_0",
 *   template: "builtin",
 *   sequences: 4, // four conversations at once
 *   warn: (message) => console.warn(message),
 * };
 * const guard = await GenGuard.load(options);
 * await guard.close();
 * ```
 */
export interface GenGuardOptions extends GenAssetsOptions, EngineOptions {
  /** A Qwen3Guard-Gen folder, a GGUF file, or a hub name pulled earlier (`qwen3guard pull`). */
  model: string;
  /**
   * KV cache positions in all, shared by the `sequences` (default `contextSize × sequences`: each can hold a full
   * context at once; at least `contextSize`). Less saves memory: a request then waits while the conversations in
   * flight leave no room for its own. The template head is held once for all sequences. The `llama-ffi` engine
   * only (node-llama-cpp's gives each sequence `contextSize`).
   */
  totalContextSize?: number;
  /**
   * Render with the model's own chat template when it carries one (default), or always with the built-in
   * renderer (byte-identical to the official template).
   */
  template?: "model" | "builtin";
}

/**
 * Options of one Gen moderation (`moderate`, `moderatePrompt`, `moderateResponse`, `tokenize`; `render` takes
 * `system`): the mode and what to do with a leading system message.
 *
 * @example
 * ```ts
 * import { GenGuard, type ModerateOptions } from "qwen3guard";
 *
 * const options: ModerateOptions = { mode: "fast", system: "reject" };
 * const guard = await GenGuard.load({ model: "/models/Qwen3Guard-Gen-0.6B" });
 * console.log((await guard.moderate([{ role: "user", content: "Hi" }], options)).tier);
 * await guard.close();
 * ```
 */
export interface ModerateOptions {
  /** `fast` (default) or `reference` (see GenMode). */
  mode?: GenMode;
  /** What to do with a leading system message (see docs/prompt-format.md). */
  system?: SystemMessagePolicy;
}

/** The reference decoding budget of the official code. */
export const REFERENCE_MAX_NEW_TOKENS = 128;

/**
 * What tests and benchmarks reach behind GenGuard's public API (the engine, to time or fault-inject it; the
 * tokenizer; the model files). Not exported from the package entry: not part of the stable API.
 * @internal
 */
export interface GenGuardInternals {
  /** The embedded engine (throws for a guard on remote engines: see `remote`). */
  readonly engine: GenEngine;
  /** The remote engines, for a guard loaded with `remote` backends. */
  readonly remote: RemoteGenEngine | undefined;
  readonly tokenizer: QwenTokenizer;
  readonly assets: GenAssets | RemoteGenAssets;
}

let internalsOf: (guard: GenGuard) => GenGuardInternals;

/**
 * Qwen3Guard-Gen moderation of a conversation's last message (a prompt or a response). Load once, moderate many
 * conversations, concurrently up to `sequences` at a time (more wait their turn), then close.
 *
 * @example
 * ```ts
 * import { GenGuard } from "qwen3guard";
 *
 * const guard = await GenGuard.load({ model: "/models/Qwen3Guard-Gen-0.6B" });
 * const verdict = await guard.moderatePrompt("How do I bake bread?");
 * console.log(verdict.tier, verdict.categories); // e.g. Safe []
 * await guard.close();
 * ```
 */
export class GenGuard {
  /** The embedded engine, or the remote engines (exactly one is set). */
  readonly #engine: GenEngine | undefined;
  readonly #remote: RemoteGenEngine | undefined;
  readonly #tokenizer: QwenTokenizer;
  readonly #assets: GenAssets | RemoteGenAssets;
  readonly #template: string | undefined;
  readonly #vocabularies: Record<Direction, GenOutputVocabulary>;
  readonly #info: GenGuardInfo;

  static {
    internalsOf = (guard) => ({
      get engine(): GenEngine {
        if (guard.#engine === undefined) throw new Error("this GenGuard runs on remote engines");
        return guard.#engine;
      },
      remote: guard.#remote,
      tokenizer: guard.#tokenizer,
      assets: guard.#assets,
    });
  }

  private constructor(
    engine: GenEngine | { remote: true; options: ResolvedEngineOptions },
    assets: GenAssets | RemoteGenAssets,
    template: string | undefined,
    engineOptions: ResolvedEngineOptions,
  ) {
    this.#tokenizer = assets.tokenizer;
    this.#assets = assets;
    this.#template = template;
    this.#vocabularies = {
      prompt: buildGenOutputVocabulary(assets.tokenizer, "prompt"),
      response: buildGenOutputVocabulary(assets.tokenizer, "response"),
    };
    const model = modelInfo(assets.resolved, assets.ggufPath);
    const synthetic = syntheticInfo(assets.synthetic);
    if ("remote" in engine) {
      const remote = new RemoteGenEngine(
        engine.options.remote!,
        assets.tokenizer,
        engineOptions.contextSize,
        this.#vocabularies.prompt,
        engineOptions.warn,
      );
      this.#engine = undefined;
      this.#remote = remote;
      this.#info = deepFreeze({
        kind: "gen",
        model,
        synthetic,
        engine: "remote",
        device: "remote",
        contextSize: engineOptions.contextSize,
        sequences: remote.capacity,
        kvCache: undefined,
        remote: { backends: remote.backends.map((b) => ({ name: b.name, kind: b.kind, url: b.url })) },
      });
      remote.pool.startHealthChecks();
      return;
    }
    this.#engine = engine;
    this.#remote = undefined;
    this.#info = deepFreeze({
      kind: "gen",
      model,
      synthetic,
      engine: engine.kind,
      device: engine.device,
      contextSize: engine.contextSize,
      sequences: engineOptions.sequences,
      kvCache: engineOptions.kvCache,
    });
  }

  /**
   * Load a Qwen3Guard-Gen model (converting a Hugging Face folder to GGUF once, cached) on llama.cpp.
   * @throws ModelSpecError, EngineOptionsError, EngineUnavailableError, OutputVocabularyError... (docs/errors.md)
   *
   * @example
   * ```ts
   * import { GenGuard } from "qwen3guard";
   *
   * const guard = await GenGuard.load({ model: "/models/Qwen3Guard-Gen-0.6B", contextSize: 2048, sequences: 1 });
   * console.log(guard.info.engine, guard.info.device); // e.g. llama-ffi cpu
   * await guard.close();
   * ```
   */
  static async load(options: GenGuardOptions): Promise<GenGuard> {
    const engineOptions = resolveEngineOptions(options);
    if (engineOptions.engine === "remote") {
      const assets = await prepareRemoteGenAssets(options.model, options);
      const template = options.template === "builtin" ? undefined : assets.chatTemplate?.template;
      return new GenGuard({ remote: true, options: engineOptions }, assets, template, engineOptions);
    }
    const total = options.totalContextSize;
    if (total !== undefined && (!Number.isInteger(total) || total < engineOptions.contextSize)) {
      throw new EngineOptionsError(
        "totalContextSize",
        `engine option totalContextSize: expected an integer of at least contextSize (${engineOptions.contextSize}), got ${JSON.stringify(total)}`,
      );
    }
    const assets = await prepareGenAssets(options.model, options);
    const template = options.template === "builtin" ? undefined : assets.chatTemplate?.template;
    // Evaluated once and shared by every sequence (the llama-ffi engine).
    const sharedPrefixes = templateHeads(
      (messages) => renderConversation(template, messages),
      (segments) => assets.tokenizer.encodeSegments(segments).ids,
    );
    const engine = await loadGenEngine({
      ...engineOptions,
      ggufPath: assets.ggufPath,
      sharedPrefixes,
      ...(total === undefined ? {} : { totalContextSize: total }),
    });
    try {
      return new GenGuard(engine, assets, template, engineOptions);
    } catch (error) {
      // The output vocabulary is checked against the model's tokenizer here: do not leave the engine loaded.
      await engine.dispose();
      throw error;
    }
  }

  /**
   * The model and how it runs (read-only): name and path, kind, whether the weights are synthetic, engine,
   * device, context size, sequences, KV cache type.
   *
   * @example
   * ```ts
   * import { GenGuard } from "qwen3guard";
   *
   * const guard = await GenGuard.load({ model: "/models/Qwen3Guard-Gen-0.6B" });
   * if (guard.info.synthetic) console.warn(`synthetic (${guard.info.synthetic}) weights: verdicts mean nothing`);
   * console.log(guard.info.model.name, guard.info.contextSize, guard.info.kvCache);
   * await guard.close();
   * ```
   */
  get info(): GenGuardInfo {
    return this.#info;
  }

  /**
   * Render a conversation to the exact Gen prompt this guard evaluates: template text and message content as
   * separate segments (content is tokenized as plain text, so it cannot forge template tokens).
   *
   * @example
   * ```ts
   * import { GenGuard } from "qwen3guard";
   *
   * const guard = await GenGuard.load({ model: "/models/Qwen3Guard-Gen-0.6B" });
   * const prompt = guard.render([{ role: "user", content: "Hello" }]);
   * console.log(prompt.direction); // "prompt"
   * await guard.close();
   * ```
   */
  render(messages: readonly ChatMessage[], options: Pick<ModerateOptions, "system"> = {}): GenPrompt {
    return renderConversation(this.#template, messages, options);
  }

  /**
   * The token ids the model sees for a conversation (fast mode: content tokenized as plain text; reference mode:
   * the rendered text with special tokens parsed everywhere, as the official code does).
   *
   * @example
   * ```ts
   * import { GenGuard } from "qwen3guard";
   *
   * const guard = await GenGuard.load({ model: "/models/Qwen3Guard-Gen-0.6B" });
   * const { ids } = guard.tokenize([{ role: "user", content: "Hello" }]);
   * console.log(ids.length); // tokens of the whole rendered prompt
   * await guard.close();
   * ```
   */
  tokenize(
    messages: readonly ChatMessage[],
    options: ModerateOptions = {},
  ): { prompt: GenPrompt; ids: number[] } {
    const prompt = this.render(messages, options);
    const ids =
      (options.mode ?? "fast") === "reference"
        ? this.#tokenizer.encode(joinSegments(prompt.segments), { specials: true })
        : this.#tokenizer.encodeSegments(prompt.segments).ids;
    return { prompt, ids };
  }

  /**
   * Moderate a conversation: the last message's role decides prompt moderation (user) or response moderation
   * (assistant). Concurrent calls share the guard's sequences, first come first served.
   * @throws InvalidConversationError, ContextOverflowError, GenEngineBrokenError (docs/errors.md)
   *
   * @example
   * ```ts
   * import { GenGuard } from "qwen3guard";
   *
   * const guard = await GenGuard.load({ model: "/models/Qwen3Guard-Gen-0.6B" });
   * const verdict = await guard.moderate([
   *   { role: "user", content: "How do I kill a Python process?" },
   *   { role: "assistant", content: "Run `kill <pid>`." },
   * ]);
   * console.log(verdict.direction, verdict.tier, verdict.refusal); // response ... Yes|No
   * await guard.close();
   * ```
   */
  async moderate(messages: readonly ChatMessage[], options: ModerateOptions = {}): Promise<Verdict> {
    const conversation = parseChatMessages(messages);
    const started = performance.now();
    const { prompt, ids } = this.tokenize(conversation, options);
    const direction = prompt.direction;
    if (this.#engine === undefined) return this.#moderateRemote(prompt, ids, options, started);
    if ((options.mode ?? "fast") === "reference") {
      return this.#engine.withSequence(
        ids,
        async (tail, lease) => {
          const prefillStart = performance.now();
          const out = await lease.generateGreedy(tail, REFERENCE_MAX_NEW_TOKENS);
          const raw = this.#tokenizer.decode(out, { skipSpecialTokens: true });
          const reference = parseGenOutputReference(raw, direction);
          if (reference.tier === null) {
            throw new GenOutputParseError(
              `the model's output has no "Safety:" label (reference mode parses with the official regexes): ${JSON.stringify(raw.slice(0, 200))}`,
              raw,
              direction,
            );
          }
          const output: GenOutput = {
            direction,
            tier: reference.tier,
            categories: reference.categories.filter((c): c is Exclude<typeof c, "None"> => c !== "None"),
            raw,
            ...(reference.refusal ? { refusal: reference.refusal } : {}),
          };
          return this.#verdict(
            output,
            undefined,
            {
              prompt: ids.length,
              evaluated: tail.length + out.length,
              generated: out.length,
              evaluations: out.length + 1,
            },
            started,
            prefillStart,
          );
        },
        { room: REFERENCE_MAX_NEW_TOKENS },
      );
    }
    const vocab = this.#vocabularies[direction];
    return this.#engine.withSequence(ids, async (tail, lease) => {
      const prefillStart = performance.now();
      const decoded = await decodeConstrained(lease, tail, vocab);
      // The verdict is what the decoder chose; the text is kept as the model's output, not parsed back.
      const { tier, categories, refusal } = decoded.output;
      const output: GenOutput = {
        direction,
        tier,
        categories,
        raw: this.#tokenizer.decode(decoded.outputIds, { skipSpecialTokens: true }),
        ...(refusal === undefined ? {} : { refusal }),
      };
      return this.#verdict(
        output,
        decoded.probabilities,
        {
          prompt: ids.length,
          evaluated: decoded.evaluatedTokens,
          generated: decoded.outputIds.length,
          evaluations: 1 + decoded.extraEvaluations,
        },
        started,
        prefillStart,
      );
    });
  }

  /**
   * Greedy completion of a token-id prompt on this guard's engine, optionally held to a regular expression, with
   * the model's log-probabilities at every generated position: what `POST /v1/completions` of `qwen3guard serve`
   * runs, so that one server can be another's remote engine. For moderation use `moderate`.
   * @throws TokenizerUsageError (an id outside the vocabulary), RegexSyntaxError, ContextOverflowError,
   *         EngineUnavailableError (a guard on remote engines)
   *
   * @example
   * ```ts
   * import { GenGuard } from "qwen3guard";
   *
   * const guard = await GenGuard.load({ model: "/models/Qwen3Guard-Gen-0.6B" });
   * const { ids } = guard.tokenize([{ role: "user", content: "Hello" }]);
   * const result = await guard.complete(ids, { maxTokens: 16, logprobs: 5, regex: "Safety: (Safe|Unsafe|Controversial)" });
   * console.log(result.ids.length, result.finishReason, result.positions?.[0]?.top.length); // ... 5
   * await guard.close();
   * ```
   */
  async complete(
    promptIds: readonly number[],
    options: Omit<CompletionRequest, "promptIds">,
  ): Promise<CompletionResult> {
    if (this.#engine === undefined) {
      throw new EngineUnavailableError(
        "complete() runs on the embedded engine; this guard runs on remote engines (send the completion to them)",
      );
    }
    const vocabSize = this.#tokenizer.vocabSize;
    for (const id of [...promptIds, ...(options.logprobTokenIds ?? [])]) {
      if (!Number.isInteger(id) || id < 0 || id >= vocabSize)
        throw new TokenizerUsageError(`token id ${id} is not in the vocabulary (size ${vocabSize})`);
    }
    if (promptIds.length === 0) throw new TokenizerUsageError("the prompt holds no token");
    return completeOnEngine(this.#engine, this.#tokenizer, { ...options, promptIds });
  }

  /**
   * Prompt moderation of a user message (optionally after earlier turns, `history`).
   *
   * @example
   * ```ts
   * import { GenGuard } from "qwen3guard";
   *
   * const guard = await GenGuard.load({ model: "/models/Qwen3Guard-Gen-0.6B" });
   * const verdict = await guard.moderatePrompt("How can I make a bomb?");
   * if (verdict.unsafeStrict) console.log("blocked:", verdict.tier, verdict.categories);
   * await guard.close();
   * ```
   */
  moderatePrompt(
    prompt: string,
    options: ModerateOptions & { history?: ChatMessage[] } = {},
  ): Promise<Verdict> {
    return this.moderate([...(options.history ?? []), { role: "user", content: prompt }], options);
  }

  /**
   * Response moderation of an assistant answer to a user prompt (optionally after earlier turns, `history`).
   *
   * @example
   * ```ts
   * import { GenGuard } from "qwen3guard";
   *
   * const guard = await GenGuard.load({ model: "/models/Qwen3Guard-Gen-0.6B" });
   * const verdict = await guard.moderateResponse("How can I make a bomb?", "I can't help with that.");
   * console.log(verdict.tier, verdict.refusal); // the refusal is judged for responses
   * await guard.close();
   * ```
   */
  moderateResponse(
    prompt: string,
    response: string,
    options: ModerateOptions & { history?: ChatMessage[] } = {},
  ): Promise<Verdict> {
    return this.moderate(
      [
        ...(options.history ?? []),
        { role: "user", content: prompt },
        { role: "assistant", content: response },
      ],
      options,
    );
  }

  /** moderate() on remote engines (see remote-gen-engine.ts). */
  async #moderateRemote(
    prompt: GenPrompt,
    ids: number[],
    options: ModerateOptions,
    started: number,
  ): Promise<Verdict> {
    const remote = this.#remote!;
    const direction = prompt.direction;
    const reference = (options.mode ?? "fast") === "reference";
    checkFits(ids.length, remote.contextSize, reference ? REFERENCE_MAX_NEW_TOKENS : undefined);
    const sent = performance.now();
    if (reference) {
      const result = await remote.generate({
        ids,
        text: joinSegments(prompt.segments),
        maxTokens: REFERENCE_MAX_NEW_TOKENS,
      });
      const parsed = parseGenOutputReference(result.text, direction);
      if (parsed.tier === null) {
        throw new GenOutputParseError(
          `the model's output has no "Safety:" label (reference mode parses with the official regexes): ${JSON.stringify(result.text.slice(0, 200))}`,
          result.text,
          direction,
        );
      }
      const output: GenOutput = {
        direction,
        tier: parsed.tier,
        categories: parsed.categories.filter((c): c is Exclude<typeof c, "None"> => c !== "None"),
        raw: result.text,
        ...(parsed.refusal ? { refusal: parsed.refusal } : {}),
      };
      const verdict = this.#verdict(
        output,
        undefined,
        { prompt: ids.length, evaluated: ids.length, generated: result.generated, evaluations: 1 },
        started,
        sent,
      );
      return {
        ...verdict,
        remote: {
          backend: result.backend.name,
          kind: result.backend.kind,
          requests: 1,
          attempts: result.attempts,
          choicesFromText: 0,
        },
      };
    }
    const result = await remote.decode({
      ids,
      segments: prompt.segments,
      vocab: this.#vocabularies[direction],
    });
    const { tier, categories, refusal } = result.output;
    const output: GenOutput = {
      direction,
      tier,
      categories,
      raw: result.raw,
      ...(refusal === undefined ? {} : { refusal }),
    };
    const verdict = this.#verdict(
      output,
      result.probabilities,
      {
        prompt: ids.length,
        evaluated: ids.length + result.generated,
        generated: result.generated,
        evaluations: result.requests,
      },
      started,
      sent,
    );
    return {
      ...verdict,
      ...(result.bounds ? { probabilityBounds: result.bounds } : {}),
      remote: {
        backend: result.backend.name,
        kind: result.backend.kind,
        requests: result.requests,
        attempts: result.attempts,
        choicesFromText: result.choicesFromText,
      },
    };
  }

  #verdict(
    output: GenOutput,
    probabilities: Verdict["probabilities"],
    tokens: NonNullable<Verdict["tokens"]>,
    started: number,
    evalStart: number,
  ): Verdict {
    const now = performance.now();
    return {
      ...output,
      ...(probabilities ? { probabilities } : {}),
      unsafeStrict: isUnsafeUnder(output.tier, "strict"),
      unsafeLoose: isUnsafeUnder(output.tier, "loose"),
      tokens,
      timings: { totalMs: now - started, queuedMs: evalStart - started, engineMs: now - evalStart },
    };
  }

  /**
   * Free the model and its KV cache. Call once every request has finished.
   *
   * @example
   * ```ts
   * import { GenGuard } from "qwen3guard";
   *
   * const guard = await GenGuard.load({ model: "/models/Qwen3Guard-Gen-0.6B" });
   * try {
   *   console.log((await guard.moderatePrompt("Hi")).tier);
   * } finally {
   *   await guard.close();
   * }
   * ```
   */
  async close(): Promise<void> {
    this.#remote?.close();
    await this.#engine?.dispose();
  }

  /**
   * `await using guard = await GenGuard.load(...)` closes the guard at the end of the scope.
   *
   * @example
   * ```ts
   * import { GenGuard } from "qwen3guard";
   *
   * const guard = await GenGuard.load({ model: "/models/Qwen3Guard-Gen-0.6B" });
   * await guard[Symbol.asyncDispose](); // what `await using` calls
   * ```
   */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/** The Gen prompt of a conversation: the model's chat template when given, else the built-in renderer. */
function renderConversation(
  template: string | undefined,
  messages: readonly ChatMessage[],
  options: Pick<ModerateOptions, "system"> = {},
): GenPrompt {
  if (template === undefined) return renderGenPrompt(messages, { system: options.system });
  if (options.system === "reject" && messages.some((m) => m.role === "system")) {
    return renderGenPrompt(messages, { system: "reject" });
  }
  return renderGenPromptWithTemplate(template, messages, { addGenerationPrompt: true });
}

/**
 * The engine, tokenizer and model files behind a GenGuard, for tests and benchmarks. Not exported from the
 * package entry: not part of the stable API.
 * @internal
 */
export function genGuardInternals(guard: GenGuard): GenGuardInternals {
  return internalsOf(guard);
}
