/** One line of a JSONL batch: an array of messages, `{messages, id?}`, or `{prompt, response?, id?}`. */
import { parseConversationText, type ConversationInput } from "./conversation-input.js";

export type BatchItem = ConversationInput;

/** Parse a batch line; errors name the field (`field "messages[1].role": expected …`), not the line. */
export function parseBatchLine(line: string): BatchItem {
  return parseConversationText(line);
}
