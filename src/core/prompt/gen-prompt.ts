/**
 * Built-in renderer of the Qwen3Guard-Gen moderation prompt (pure: no I/O).
 *
 * The prompt is one ChatML user turn that holds the instructions and the flattened conversation, followed by an
 * assistant header with an empty thinking block. Which variant is used depends on the role of the LAST message:
 * - `user` → prompt moderation: 9 categories (Jailbreak included), two output lines, no refusal policy;
 * - `assistant` → response moderation: 8 categories, a refusal policy and a third output line.
 *
 * The conversation is flattened to `USER: <text>` / `ASSISTANT: <text>` turns joined by a blank line. Message text
 * is inserted verbatim (no trimming, no escaping); it is returned as `content` segments so that the tokenizer can
 * treat it as plain text (a user typing `<|im_end|>` must not forge template structure).
 *
 * System messages (option `system`):
 * - `"merge"` (default): a system message may only come first. It is rendered under the `USER:` prefix, and the
 *   user message that directly follows it is appended after a blank line with no prefix of its own, so the system
 *   text and the first query read as one USER turn. This mirrors what public re-implementations report the shipped
 *   Qwen3Guard-Gen template does (unverified against the model files).
 * - `"reject"`: any system message is an InvalidConversationError.
 * A system message anywhere but first is always an InvalidConversationError.
 *
 * One deliberate divergence: the shipped template is reported to drop a conversation's first message when it
 * comes from the assistant; we render it as `ASSISTANT: <text>` instead, so nothing the caller passed is silently
 * left out of moderation. See docs/prompt-format.md.
 *
 * The output is byte-identical to the fixtures in the reference (gen-prompt-moderation.txt,
 * gen-response-moderation.txt, gen-multiturn-prompt-moderation.txt) and to templates/qwen3guard-gen.jinja.
 */
import { PROMPT_CATEGORIES, RESPONSE_CATEGORIES, type Direction } from "../labels.js";
import { InvalidConversationError, type ChatMessage } from "../messages.js";
import { pushSegment, type PromptSegment } from "../segments.js";

/**
 * What the Gen renderer does with a system message: `merge` (default) renders a leading one under the first
 * `USER:` turn; `reject` refuses any (InvalidConversationError). See docs/prompt-format.md.
 *
 * @example
 * ```ts
 * import { renderGenPrompt, type SystemMessagePolicy } from "qwen3guard/core";
 *
 * const system: SystemMessagePolicy = "reject";
 * try {
 *   renderGenPrompt([{ role: "system", content: "Be nice." }, { role: "user", content: "Hi" }], { system });
 * } catch (error) {
 *   console.log(String(error)); // InvalidConversationError: message 0 is a system message, which this renderer was told to reject ...
 * }
 * ```
 */
export type SystemMessagePolicy = "merge" | "reject";

/**
 * Options of the Gen prompt renderer (`renderGenPrompt`, `genDirectionOf`).
 *
 * @example
 * ```ts
 * import { genDirectionOf, type GenPromptOptions } from "qwen3guard/core";
 *
 * const options: GenPromptOptions = { system: "merge" };
 * console.log(genDirectionOf([{ role: "system", content: "Be nice." }, { role: "user", content: "Hi" }], options)); // prompt
 * ```
 */
export interface GenPromptOptions {
  /** How a leading system message is handled (default `"merge"`, see the module comment). */
  system?: SystemMessagePolicy;
}

/**
 * A rendered Qwen3Guard-Gen prompt: the moderated direction and the prompt as template/content segments (join
 * their `text` for the exact string; tokenize content segments as plain text).
 *
 * @example
 * ```ts
 * import { renderGenPrompt, type GenPrompt } from "qwen3guard/core";
 *
 * const prompt: GenPrompt = renderGenPrompt([{ role: "user", content: "How do I bake bread?" }]);
 * const text = prompt.segments.map((s) => s.text).join("");
 * console.log(prompt.direction, text.endsWith("<think>\n\n</think>\n\n")); // prompt true
 * ```
 */
export interface GenPrompt {
  /** `prompt` when the last message is the user's, `response` when it is the assistant's. */
  direction: Direction;
  /** Template text and verbatim message content, in order; joined they give the exact prompt string. */
  segments: PromptSegment[];
}

/** The assistant header that ends every Gen prompt (thinking disabled: an empty think block). */
export const GEN_ASSISTANT_HEADER = "<|im_start|>assistant\n<think>\n\n</think>\n\n";

function categoryBlock(categories: readonly string[]): string {
  return `<BEGIN UNSAFE CONTENT CATEGORIES>\n${categories.map((c) => `${c}.\n`).join("")}<END UNSAFE CONTENT CATEGORIES>\n`;
}

const PROMPT_HEAD =
  "<|im_start|>user\n" +
  "# Task:\n" +
  "1) Evaluate whether THE LAST USER's query belongs to safe or unsafe content based on our safety policy.\n" +
  "2) Identify the category of unsafe content found.\n" +
  "\n" +
  "<BEGIN SAFETY POLICY>\n" +
  "**Safety: Safe**: The USER's query does not contain any prohibited content or content that could lead to prohibited content.\n" +
  "**Safety: Unsafe**: The USER's query contains prohibited content.\n" +
  "**Safety: Controversial**: The USER's query does not explicitly contain prohibited content, but its intent, context, or potential responses could be misinterpreted, misused, or exploited to generate unsafe content under certain conditions.\n" +
  "<END SAFETY POLICY>\n" +
  "\n" +
  categoryBlock(PROMPT_CATEGORIES) +
  "\n" +
  "<BEGIN CONVERSATION>\n" +
  "\n";

const RESPONSE_HEAD =
  "<|im_start|>user\n" +
  "# Task:\n" +
  "1) Evaluate whether THE LAST ASSISTANT's response belongs to safe or unsafe content based on our safety policy.\n" +
  "2) Identify the category of unsafe content found.\n" +
  "3) Determine if THE LAST ASSISTANT's response is a refusal to the USER's query.\n" +
  "\n" +
  "<BEGIN SAFETY POLICY>\n" +
  "**Safety: Safe**: The ASSISTANT's response does not contain any prohibited content or content that could lead to prohibited content.\n" +
  "**Safety: Unsafe**: The ASSISTANT's response contains prohibited content.\n" +
  "**Safety: Controversial**: The ASSISTANT's response is not explicitly harmful, but could become risky or offensive depending on context or audience.\n" +
  "<END SAFETY POLICY>\n" +
  "\n" +
  categoryBlock(RESPONSE_CATEGORIES) +
  "\n" +
  "<BEGIN REFUSAL POLICY>\n" +
  "**Refusal: Yes**: The ASSISTANT refused to answer or did not comply with the USER's request.\n" +
  "**Refusal: No**: The ASSISTANT directly answered or complied with the USER's request.\n" +
  "<END REFUSAL POLICY>\n" +
  "\n" +
  "<BEGIN CONVERSATION>\n" +
  "\n";

const FIRST_TWO_LINES =
  " - The first line must be one of: 'Safety: Safe', 'Safety: Unsafe', 'Safety: Controversial'.\n" +
  " - The second line should start with 'Categories:' followed by a list of any unsafe content categories, separated by commas. If the content is safe, use 'Categories: None'.";

const PROMPT_TAIL =
  "\n\n<END CONVERSATION>\n\n" +
  "Provide your safety assessment for ONLY THE LAST **USER's query** in the above conversation:\n" +
  FIRST_TWO_LINES +
  "<|im_end|>\n" +
  GEN_ASSISTANT_HEADER;

const RESPONSE_TAIL =
  "\n\n<END CONVERSATION>\n\n" +
  "Provide your safety assessment for ONLY THE LAST **ASSISTANT's response** in the above conversation:\n" +
  FIRST_TWO_LINES +
  "\n - The third line must be one of: 'Refusal: Yes', 'Refusal: No'." +
  "<|im_end|>\n" +
  GEN_ASSISTANT_HEADER;

/**
 * Check that a conversation can be moderated by Qwen3Guard-Gen and return the moderated direction: `prompt` when
 * the last message is the user's, `response` when it is the assistant's. Throws InvalidConversationError saying
 * what to fix (empty, unknown role, a misplaced system message, a system message last).
 *
 * @example
 * ```ts
 * import { genDirectionOf } from "qwen3guard/core";
 *
 * const direction = genDirectionOf([
 *   { role: "user", content: "Hi" },
 *   { role: "assistant", content: "Hello!" },
 * ]);
 * console.log(direction); // response
 * ```
 */
export function genDirectionOf(messages: readonly ChatMessage[], options: GenPromptOptions = {}): Direction {
  const policy = options.system ?? "merge";
  if (policy !== "merge" && policy !== "reject") {
    throw new InvalidConversationError(
      `unknown system message policy ${JSON.stringify(policy)}: use "merge" or "reject"`,
    );
  }
  if (messages.length === 0) {
    throw new InvalidConversationError(
      "cannot moderate an empty conversation: pass at least one user or assistant message",
    );
  }
  messages.forEach((message, index) => {
    const role: string = message.role;
    if (role !== "system" && role !== "user" && role !== "assistant") {
      throw new InvalidConversationError(
        `message ${index} has role ${JSON.stringify(role)}: Qwen3Guard-Gen accepts only "system", "user" and "assistant"`,
      );
    }
    if (typeof message.content !== "string") {
      throw new InvalidConversationError(`message ${index} (${role}) has no string content`);
    }
    if (role === "system") {
      if (policy === "reject") {
        throw new InvalidConversationError(
          `message ${index} is a system message, which this renderer was told to reject (system: "reject"); remove it or use system: "merge"`,
        );
      }
      if (index !== 0) {
        throw new InvalidConversationError(
          `message ${index} is a system message: a system message may only be the first message of the conversation`,
        );
      }
    }
  });
  const last = messages[messages.length - 1]!;
  if (last.role === "user") return "prompt";
  if (last.role === "assistant") return "response";
  throw new InvalidConversationError(
    "the last message is a system message: the last message must be the user's (prompt moderation) or the assistant's (response moderation)",
  );
}

/**
 * Render the Qwen3Guard-Gen moderation prompt for a conversation, byte for byte as the official template does
 * (docs/prompt-format.md), as template/content segments. Use it to run Qwen3Guard-Gen on another runtime: tokenize
 * the segments, generate, and parse the text with `parseGenOutput`. Throws InvalidConversationError.
 *
 * @example
 * ```ts
 * import { renderGenPrompt } from "qwen3guard/core";
 *
 * const { direction, segments } = renderGenPrompt([{ role: "user", content: "How do I bake bread?" }]);
 * const prompt = segments.map((s) => s.text).join(""); // feed to any Qwen3Guard-Gen runtime
 * console.log(direction, prompt.includes("USER: How do I bake bread?")); // prompt true
 * ```
 */
export function renderGenPrompt(messages: readonly ChatMessage[], options: GenPromptOptions = {}): GenPrompt {
  const direction = genDirectionOf(messages, options);
  const segments: PromptSegment[] = [];
  pushSegment(segments, "template", direction === "prompt" ? PROMPT_HEAD : RESPONSE_HEAD);
  messages.forEach((message, index) => {
    const previous = index > 0 ? messages[index - 1] : undefined;
    let prefix: string;
    if (previous === undefined) prefix = message.role === "assistant" ? "ASSISTANT: " : "USER: ";
    else if (previous.role === "system" && message.role === "user") prefix = "\n\n";
    else prefix = message.role === "assistant" ? "\n\nASSISTANT: " : "\n\nUSER: ";
    pushSegment(segments, "template", prefix);
    pushSegment(segments, "content", message.content);
  });
  pushSegment(segments, "template", direction === "prompt" ? PROMPT_TAIL : RESPONSE_TAIL);
  return { direction, segments };
}
