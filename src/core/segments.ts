/**
 * A rendered prompt is a sequence of segments: template text (which may contain special tokens such as
 * `<|im_start|>`) and message content (user or assistant text, which must never be read as special tokens).
 * Concatenating the `text` of all segments gives the exact prompt string.
 */
export type SegmentKind = "template" | "content";

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
