/**
 * The conversation a guard reads, from a chat as an LLM API carries it: system texts become one leading system
 * message (Gen accepts a system message only first), the turns up to the last user turn are the prompt, and
 * assistant text after the last user turn is the answer's prefill (the start of the answer the LLM continues).
 */
import { InvalidConversationError, type ChatMessage } from "../core/messages.js";

export interface GuardConversation {
  /** System text first (when any), then the turns up to and including the last user turn. */
  conversation: ChatMessage[];
  /** Assistant text after the last user turn, joined by blank lines, or "". */
  prefill: string;
  /** Index of the first message after the last user turn. */
  prefillFrom: number;
}

/** @throws InvalidConversationError when no message is the user's. */
export function guardConversation(messages: readonly ChatMessage[]): GuardConversation {
  const lastUser = messages.findLastIndex((m) => m.role === "user");
  if (lastUser < 0) {
    throw new InvalidConversationError("the conversation has no user message to answer");
  }
  const prefillFrom = lastUser + 1;
  const systems: string[] = [];
  const turns: ChatMessage[] = [];
  const prefill: string[] = [];
  messages.forEach((m, i) => {
    if (m.role === "system") systems.push(m.content);
    else if (i < prefillFrom) turns.push({ role: m.role, content: m.content });
    else prefill.push(m.content);
  });
  return {
    conversation: [
      ...(systems.length > 0 ? [{ role: "system" as const, content: systems.join("\n\n") }] : []),
      ...turns,
    ],
    prefill: prefill.join("\n\n"),
    prefillFrom,
  };
}
