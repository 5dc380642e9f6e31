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
import type { GenEngine } from "../engine/gen/gen-engine.js";
import { loadGenEngine } from "../engine/gen/load-gen-engine.js";
import { resolveEngineOptions, type EngineOptions } from "../engine/engine-options.js";
import { buildGenOutputVocabulary, type GenOutputVocabulary } from "../engine/gen/output-vocabulary.js";
import { renderGenPromptWithTemplate } from "../model/chat-template.js";
import { prepareGenAssets, type GenAssets, type GenAssetsOptions } from "../model/gen-assets.js";
import type { QwenTokenizer } from "../model/tokenizer/index.js";

export type GenMode = "fast" | "reference";

export interface GenGuardOptions extends GenAssetsOptions, EngineOptions {
  /** A Qwen3Guard-Gen folder, a GGUF file, or a hub name pulled earlier (`qwen3guard pull`). */
  model: string;
  /**
   * Render with the model's own chat template when it carries one (default), or always with the built-in
   * renderer (byte-identical to the official template).
   */
  template?: "model" | "builtin";
}

export interface ModerateOptions {
  mode?: GenMode;
  /** What to do with a leading system message (see docs/prompt-format.md). */
  system?: SystemMessagePolicy;
}

/** The reference decoding budget of the official code. */
export const REFERENCE_MAX_NEW_TOKENS = 128;

export class GenGuard {
  private readonly vocabularies: Record<Direction, GenOutputVocabulary>;

  private constructor(
    readonly engine: GenEngine,
    readonly tokenizer: QwenTokenizer,
    readonly assets: GenAssets,
    private readonly template: string | undefined,
  ) {
    this.vocabularies = {
      prompt: buildGenOutputVocabulary(tokenizer, "prompt"),
      response: buildGenOutputVocabulary(tokenizer, "response"),
    };
  }

  static async load(options: GenGuardOptions): Promise<GenGuard> {
    const engineOptions = resolveEngineOptions(options);
    const assets = await prepareGenAssets(options.model, options);
    const engine = await loadGenEngine({ ...engineOptions, ggufPath: assets.ggufPath });
    const template = options.template === "builtin" ? undefined : assets.chatTemplate?.template;
    try {
      return new GenGuard(engine, assets.tokenizer, assets, template);
    } catch (error) {
      // The output vocabulary is checked against the model's tokenizer here: do not leave the engine loaded.
      await engine.dispose();
      throw error;
    }
  }

  /** Render a conversation to the exact Gen prompt this guard will evaluate. */
  render(messages: readonly ChatMessage[], options: Pick<ModerateOptions, "system"> = {}): GenPrompt {
    if (this.template === undefined) return renderGenPrompt(messages, { system: options.system });
    if (options.system === "reject" && messages.some((m) => m.role === "system")) {
      return renderGenPrompt(messages, { system: "reject" });
    }
    return renderGenPromptWithTemplate(this.template, messages, { addGenerationPrompt: true });
  }

  /** Token ids the model sees for a conversation (fast mode: content tokenized as plain text). */
  tokenize(
    messages: readonly ChatMessage[],
    options: ModerateOptions = {},
  ): { prompt: GenPrompt; ids: number[] } {
    const prompt = this.render(messages, options);
    const ids =
      (options.mode ?? "fast") === "reference"
        ? this.tokenizer.encode(joinSegments(prompt.segments), { specials: true })
        : this.tokenizer.encodeSegments(prompt.segments).ids;
    return { prompt, ids };
  }

  /** Moderate a conversation: the last message's role decides prompt or response moderation. */
  async moderate(messages: readonly ChatMessage[], options: ModerateOptions = {}): Promise<Verdict> {
    const conversation = parseChatMessages(messages);
    const started = performance.now();
    const { prompt, ids } = this.tokenize(conversation, options);
    const direction = prompt.direction;
    if ((options.mode ?? "fast") === "reference") {
      return this.engine.withSequence(
        ids,
        async (tail, lease) => {
          const prefillStart = performance.now();
          const out = await lease.generateGreedy(tail, REFERENCE_MAX_NEW_TOKENS);
          const raw = this.tokenizer.decode(out, { skipSpecialTokens: true });
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
          return this.verdict(
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
    const vocab = this.vocabularies[direction];
    return this.engine.withSequence(ids, async (tail, lease) => {
      const prefillStart = performance.now();
      const decoded = await decodeConstrained(lease, tail, vocab);
      // The verdict is what the decoder chose; the text is kept as the model's output, not parsed back.
      const { tier, categories, refusal } = decoded.output;
      const output: GenOutput = {
        direction,
        tier,
        categories,
        raw: this.tokenizer.decode(decoded.outputIds, { skipSpecialTokens: true }),
        ...(refusal === undefined ? {} : { refusal }),
      };
      return this.verdict(
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

  /** Prompt moderation of a single user message (optionally with earlier turns). */
  moderatePrompt(
    prompt: string,
    options: ModerateOptions & { history?: ChatMessage[] } = {},
  ): Promise<Verdict> {
    return this.moderate([...(options.history ?? []), { role: "user", content: prompt }], options);
  }

  /** Response moderation of an assistant answer to a user prompt. */
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

  private verdict(
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

  async close(): Promise<void> {
    await this.engine.dispose();
  }
}
