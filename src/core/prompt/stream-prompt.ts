/**
 * Built-in renderer of the Qwen3Guard-Stream input (pure: no I/O).
 *
 * Qwen3Guard-Stream reads plain Qwen3 ChatML with thinking disabled. Moderation happens in two phases:
 * 1. prompt check: feed `promptSegments`, every token up to and including the LAST user turn's `<|im_end|>`,
 *    and read the query heads at the last position;
 * 2. response check: feed `assistantHeader` (`\n<|im_start|>assistant\n<think>\n\n</think>\n\n`, whose leading
 *    newline closes the last user turn), then the answer's tokens as they are produced, reading the response heads
 *    at each answer position.
 *
 * Turns before the last user turn render as `<|im_start|>ROLE\nCONTENT<|im_end|>` joined by `\n` (system turns
 * anywhere, earlier assistant turns without a think block), exactly as the Qwen3 chat template renders them with
 * `enable_thinking=false`. For a conversation that ends with a user turn, `promptSegments` + `assistantHeader` equals
 * that template's output with `add_generation_prompt=true` byte for byte (the header's leading `\n` is the newline the
 * template writes after the last `<|im_end|>`).
 *
 * Content is inserted verbatim. (The Qwen3 template removes a `<think>…</think>` block from earlier assistant
 * turns whose content contains `</think>`; this renderer does not rewrite content.)
 */
import { InvalidConversationError, type ChatMessage } from "../messages.js";
import { pushSegment, type PromptSegment } from "../segments.js";

/** Template text fed after the prompt and before the answer: closes the user turn, opens the assistant's. */
export const STREAM_ASSISTANT_HEADER = "\n<|im_start|>assistant\n<think>\n\n</think>\n\n";

/**
 * A conversation rendered for Qwen3Guard-Stream: the prompt up to the last user turn's `<|im_end|>` (as segments),
 * the assistant header to feed before the answer, and the answer when the conversation has one.
 *
 * @example
 * ```ts
 * import { renderStreamPrompt, type StreamPrompt } from "qwen3guard/core";
 *
 * const rendered: StreamPrompt = renderStreamPrompt([{ role: "user", content: "Hi" }]);
 * console.log(JSON.stringify(rendered.assistantHeader)); // "\n<|im_start|>assistant\n<think>\n\n</think>\n\n"
 * ```
 */
export interface StreamPrompt {
  /** Everything up to and including the last user turn's `<|im_end|>`. */
  promptSegments: PromptSegment[];
  /** Template text to feed before the answer (always `\n<|im_start|>assistant\n<think>\n\n</think>\n\n`). */
  assistantHeader: string;
  /** The assistant answer that follows the last user turn, when the conversation has one. */
  response?: string;
}

/**
 * Render a conversation for Qwen3Guard-Stream (plain Qwen3 ChatML, thinking disabled): feed `promptSegments` and
 * read the query heads at the last position, then `assistantHeader`, then the answer's tokens, reading the
 * response heads at each. Use it to run Qwen3Guard-Stream on another runtime. Throws InvalidConversationError
 * saying what to fix (no user message, more than one message after the last user turn...).
 *
 * @example
 * ```ts
 * import { renderStreamPrompt } from "qwen3guard/core";
 *
 * const { promptSegments, response } = renderStreamPrompt([
 *   { role: "user", content: "Hi" },
 *   { role: "assistant", content: "Hello!" },
 * ]);
 * console.log(promptSegments.map((s) => s.text).join(""), response); // <|im_start|>user\nHi<|im_end|> Hello!
 * ```
 */
export function renderStreamPrompt(messages: readonly ChatMessage[]): StreamPrompt {
  if (messages.length === 0) {
    throw new InvalidConversationError(
      "cannot moderate an empty conversation: pass at least one user message",
    );
  }
  messages.forEach((message, index) => {
    const role: string = message.role;
    if (role !== "system" && role !== "user" && role !== "assistant") {
      throw new InvalidConversationError(
        `message ${index} has role ${JSON.stringify(role)}: Qwen3Guard-Stream accepts only "system", "user" and "assistant"`,
      );
    }
    if (typeof message.content !== "string") {
      throw new InvalidConversationError(`message ${index} (${role}) has no string content`);
    }
  });
  const lastUser = messages.findLastIndex((m) => m.role === "user");
  if (lastUser < 0) {
    throw new InvalidConversationError(
      "the conversation has no user message: Qwen3Guard-Stream needs a user turn to moderate",
    );
  }
  const after = messages.slice(lastUser + 1);
  if (after.length > 1 || (after.length === 1 && after[0]!.role !== "assistant")) {
    throw new InvalidConversationError(
      `after the last user message (index ${lastUser}) only one assistant message (the answer to moderate) may follow; got roles ${after.map((m) => m.role).join(", ")}`,
    );
  }
  const promptSegments: PromptSegment[] = [];
  for (let index = 0; index <= lastUser; index++) {
    const message = messages[index]!;
    pushSegment(promptSegments, "template", `${index > 0 ? "\n" : ""}<|im_start|>${message.role}\n`);
    pushSegment(promptSegments, "content", message.content);
    pushSegment(promptSegments, "template", "<|im_end|>");
  }
  const result: StreamPrompt = { promptSegments, assistantHeader: STREAM_ASSISTANT_HEADER };
  if (after[0] !== undefined) result.response = after[0].content;
  return result;
}
