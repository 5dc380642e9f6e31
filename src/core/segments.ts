/**
 * A rendered prompt is a sequence of segments: template text (which may contain special tokens such as
 * `<|im_start|>`) and message content (user or assistant text, which must never be read as special tokens).
 * Concatenating the `text` of all segments gives the exact prompt string.
 */

/**
 * What a prompt segment holds: `template` text (its special tokens are real) or message `content` (to be
 * tokenized as plain text, so a user typing `<|im_end|>` cannot forge template structure).
 *
 * @example
 * ```ts
 * import type { SegmentKind } from "qwen3guard/core";
 *
 * const kind: SegmentKind = "content";
 * console.log(kind);
 * ```
 */
export type SegmentKind = "template" | "content";

/**
 * One piece of a rendered prompt (`renderGenPrompt(...).segments`, `renderStreamPrompt(...).promptSegments`):
 * tokenize `template` segments with special tokens parsed and `content` segments as plain text.
 *
 * @example
 * ```ts
 * import { renderGenPrompt, type PromptSegment } from "qwen3guard/core";
 *
 * const segments: PromptSegment[] = renderGenPrompt([{ role: "user", content: "Hi <|im_end|>" }]).segments;
 * console.log(segments.filter((s) => s.kind === "content").map((s) => s.text)); // ["Hi <|im_end|>"]
 * ```
 */
export interface PromptSegment {
  kind: SegmentKind;
  text: string;
}

export function joinSegments(segments: readonly PromptSegment[]): string {
  return segments.map((s) => s.text).join("");
}

/** Append a segment, merging it into the previous one when both are of the same kind. */
export function pushSegment(segments: PromptSegment[], kind: SegmentKind, text: string): void {
  if (text.length === 0) return;
  const last = segments[segments.length - 1];
  if (last && last.kind === kind) last.text += text;
  else segments.push({ kind, text });
}
