/** Chat messages as callers hand them to the guard. */
import { z } from "zod";
import { Qwen3GuardError } from "./errors.js";

export const CHAT_ROLES = ["system", "user", "assistant"] as const;
export type ChatRole = (typeof CHAT_ROLES)[number];

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

/** Thrown when a conversation cannot be moderated as given. */
export class InvalidConversationError extends Qwen3GuardError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("INVALID_CONVERSATION", message, options);
  }
}

/** Validate unknown input (e.g. parsed JSON) into chat messages, with an error that says what to fix. */
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
