/** One line of a JSONL batch: an array of messages, `{messages, id?}`, or `{prompt, response?, id?}`. */
import { z } from "zod";
import { parseChatMessages, type ChatMessage } from "../core/messages.js";

export interface BatchItem {
  id?: unknown;
  messages: ChatMessage[];
}

const promptLine = z.object({
  prompt: z.string(),
  response: z.string().optional(),
  id: z.unknown().optional(),
});

export function parseBatchLine(line: string): BatchItem {
  let json: unknown;
  try {
    json = JSON.parse(line);
  } catch (error) {
    throw new Error(`not valid JSON (${(error as Error).message})`);
  }
  if (Array.isArray(json)) return { messages: parseChatMessages(json) };
  if (typeof json === "object" && json !== null && "messages" in json) {
    const { id, messages } = json as { id?: unknown; messages: unknown };
    return { id, messages: parseChatMessages(messages) };
  }
  const parsed = promptLine.safeParse(json);
  if (!parsed.success) {
    throw new Error(
      'expected an array of messages, {"messages": [...]}, or {"prompt": "...", "response"?: "..."}',
    );
  }
  const { prompt, response, id } = parsed.data;
  const messages: ChatMessage[] = [{ role: "user", content: prompt }];
  if (response !== undefined) messages.push({ role: "assistant", content: response });
  return { id, messages };
}
