/**
 * The template heads of Gen moderation: the token ids every prompt of one direction starts with, everything the
 * template puts before the conversation (~200 tokens for the official template; prompt and response moderation
 * part ways early, at the task's wording). Found as the longest common prefix of a few renders whose messages
 * differ from their first character: message content is tokenized apart from template text, so the prefix ends
 * exactly where the conversation begins.
 */
import type { ChatMessage } from "../../core/messages.js";
import type { GenPrompt } from "../../core/prompt/gen-prompt.js";
import type { PromptSegment } from "../../core/segments.js";
import { sharedPrefixLength } from "./sequence-pool.js";

/** Shorter heads are not worth a sequence of their own. */
export const MIN_TEMPLATE_HEAD = 16;

const SAMPLES = ["a", "Z", "7"];

/**
 * The prompt-moderation head and the response-moderation head (either left out when the template cannot render
 * the samples or shares too little between them).
 */
export function templateHeads(
  render: (messages: readonly ChatMessage[]) => GenPrompt,
  encode: (segments: readonly PromptSegment[]) => number[],
): number[][] {
  const conversations: ((text: string) => ChatMessage[])[] = [
    (text) => [{ role: "user", content: text }],
    (text) => [
      { role: "user", content: text },
      { role: "assistant", content: text },
    ],
  ];
  const heads: number[][] = [];
  for (const conversation of conversations) {
    let renders: number[][];
    try {
      renders = SAMPLES.map((text) => encode(render(conversation(text)).segments));
    } catch {
      continue; // no sharing for a template that cannot render these
    }
    const first = renders[0]!;
    const length = Math.min(...renders.slice(1).map((ids) => sharedPrefixLength(first, ids)));
    if (length >= MIN_TEMPLATE_HEAD) heads.push(first.slice(0, length));
  }
  return heads;
}
