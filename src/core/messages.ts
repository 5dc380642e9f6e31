/** Chat messages as callers hand them to the guard. */
import { z } from "zod";
import { Qwen3GuardError } from "./errors.js";

/**
 * The roles a message may have: the only three the Qwen3Guard templates know.
 *
 * @example
 * ```ts
 * import { CHAT_ROLES } from "qwen3guard/core";
 *
 * const role: string = "tool";
 * console.log((CHAT_ROLES as readonly string[]).includes(role)); // false
 * ```
 */
export const CHAT_ROLES = ["system", "user", "assistant"] as const;

/**
 * Who wrote a message: `system`, `user` or `assistant`.
 *
 * @example
 * ```ts
 * import type { ChatRole } from "qwen3guard";
 *
 * const role: ChatRole = "assistant";
 * console.log(role);
 * ```
 */
export type ChatRole = (typeof CHAT_ROLES)[number];

/**
 * One message of a conversation, as every guard method takes it (the OpenAI chat shape, text content only). The
 * last message decides what is moderated: the user's (prompt moderation) or the assistant's (response moderation).
 *
 * @example
 * ```ts
 * import type { ChatMessage } from "qwen3guard";
 *
 * const conversation: ChatMessage[] = [
 *   { role: "user", content: "How do I bake bread?" },
 *   { role: "assistant", content: "Mix flour, water, salt and yeast..." },
 * ];
 * console.log(conversation.length);
 * ```
 */
export interface ChatMessage {
  role: ChatRole;
  content: string;
}

export const chatMessageSchema = z.object({
  role: z.enum(CHAT_ROLES),
  content: z.string(),
});

export const chatMessagesSchema = z
  .array(chatMessageSchema)
  .min(1, "a conversation needs at least one message");

/**
 * A conversation cannot be moderated as given (no messages, an unknown role, content that is not text, a last
 * message of the wrong role); the message says what to fix. Code `INVALID_CONVERSATION`.
 *
 * @example
 * ```ts
 * import { InvalidConversationError, parseChatMessages } from "qwen3guard";
 *
 * try {
 *   parseChatMessages([{ role: "robot", content: "beep" }]);
 * } catch (error) {
 *   if (error instanceof InvalidConversationError) console.log(error.code, error.message); // INVALID_CONVERSATION messages.0.role: ...
 * }
 * ```
 */
export class InvalidConversationError extends Qwen3GuardError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("INVALID_CONVERSATION", message, options);
  }
}

/**
 * Validate unknown input (parsed JSON from a request, a file) into chat messages: at least one message, each with
 * a known role and string content. Throws InvalidConversationError naming the field at fault (`where` prefixes
 * the path, default `messages`).
 *
 * @example
 * ```ts
 * import { parseChatMessages } from "qwen3guard";
 *
 * const body: unknown = JSON.parse('{"messages": [{"role": "user", "content": "Hi"}]}');
 * const messages = parseChatMessages((body as { messages: unknown }).messages);
 * console.log(messages[0]?.content); // Hi
 * ```
 */
export function parseChatMessages(input: unknown, where = "messages"): ChatMessage[] {
  const result = chatMessagesSchema.safeParse(input);
  if (!result.success) {
    const issue = result.error.issues[0];
    const path = issue ? [where, ...issue.path.map(String)].join(".") : where;
    throw new InvalidConversationError(
      `${path}: ${issue?.message ?? "invalid"} (expected an array of {"role": "system"|"user"|"assistant", "content": string})`,
    );
  }
  return result.data;
}
