/**
 * Segment-aware encoding of a rendered prompt: added tokens are matched in template text only, and the text
 * between two added tokens is normalized, pre-tokenized and BPE-encoded as one string even where it crosses
 * segment boundaries (so the ids equal HF's for the joined string whenever content holds no added token).
 */
import type { PromptSegment, SegmentKind } from "../../core/segments.js";
import type { AddedTokenMatch } from "./added-tokens.js";
import { splitPieces } from "./pre-tokenizer.js";

/** The tokens of one input segment: ids[tokenStart..tokenEnd). */
export interface SegmentTokens {
  kind: SegmentKind;
  text: string;
  tokenStart: number;
  tokenEnd: number;
}

/**
 * Result of encodeSegments. `segments` has one entry per input segment, in order; their token ranges are
 * contiguous and cover `ids`. A token made of characters from several segments (e.g. ` How` from template
 * `USER: ` + content `How`, or `?\n\n` from content `...?` + template `\n\n...`) belongs to the first
 * content segment it touches, or to the first segment it touches when it touches no content: a content
 * segment's range thus holds every token carrying any of its characters, unless an earlier content segment
 * shares that token. A segment whose characters all went into such tokens has an empty range. When NFC
 * composes characters across a boundary (content starting with a combining mark), the composed character
 * counts as part of the later segment.
 */
export interface SegmentEncoding {
  ids: number[];
  segments: SegmentTokens[];
}

/** What the segment encoder needs from a tokenizer. */
export interface SegmentEncoderCore {
  matchAddedTokens(text: string): AddedTokenMatch[];
  normalize(text: string): string;
  encodePiece(piece: string): readonly number[];
  tokenByteLength(id: number): number;
}

/** A stretch [start, end) of normalized text that came from one segment. */
interface Portion {
  segment: number;
  start: number;
  end: number;
}

function utf8Length(codePoint: number): number {
  return codePoint < 0x80 ? 1 : codePoint < 0x800 ? 2 : codePoint < 0x10000 ? 3 : 4;
}

function commonPrefixLength(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a.charCodeAt(i) === b.charCodeAt(i)) i++;
  return i;
}

export function encodeSegmentsWith(
  core: SegmentEncoderCore,
  segments: readonly PromptSegment[],
): SegmentEncoding {
  const starts: number[] = [];
  let joined = "";
  for (const s of segments) {
    starts.push(joined.length);
    joined += s.text;
  }
  const ends = segments.map((s, i) => starts[i]! + s.text.length);
  const ids: number[] = [];
  const owner: number[] = []; // segment index of each token

  // Added tokens, searched in each run of consecutive template segments (never in content).
  const matches: AddedTokenMatch[] = [];
  for (let i = 0; i < segments.length;) {
    if (segments[i]!.kind !== "template") {
      i++;
      continue;
    }
    let j = i;
    while (j < segments.length && segments[j]!.kind === "template") j++;
    const from = starts[i]!;
    for (const m of core.matchAddedTokens(joined.slice(from, ends[j - 1]!))) {
      matches.push({ id: m.id, start: from + m.start, end: from + m.end });
    }
    i = j;
  }

  /** Index of the non-empty segment holding joined position p. */
  const segmentAt = (p: number): number => {
    let lo = 0;
    let hi = segments.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (starts[mid]! <= p) lo = mid;
      else hi = mid - 1;
    }
    while (ends[lo]! <= p) lo++; // step over empty segments starting at p
    return lo;
  };

  const encodeText = (from: number, to: number): void => {
    if (from >= to) return;
    const first = segmentAt(from);
    const last = segmentAt(to - 1);
    if (first === last) {
      for (const piece of splitPieces(core.normalize(joined.slice(from, to)))) {
        for (const id of core.encodePiece(piece)) {
          ids.push(id);
          owner.push(first);
        }
      }
      return;
    }
    const portions = normalizedPortions(core, joined, starts, ends, from, to, first, last);
    const normalized = portions.text;
    let at = 0;
    let p = 0; // portion holding `at`
    for (const piece of splitPieces(normalized)) {
      const end = at + piece.length;
      while (portions.list[p]!.end <= at) p++;
      let q = p;
      while (portions.list[q]!.end < end) q++;
      const pieceIds = core.encodePiece(piece);
      if (p === q) {
        for (const id of pieceIds) {
          ids.push(id);
          owner.push(portions.list[p]!.segment);
        }
      } else {
        attributeStraddlingPiece(core, segments, portions.list, piece, at, p, pieceIds, ids, owner);
      }
      at = end;
    }
  };

  let pos = 0;
  for (const m of matches) {
    encodeText(pos, m.start);
    ids.push(m.id);
    owner.push(segmentAt(m.start));
    pos = m.end;
  }
  encodeText(pos, joined.length);

  const counts = new Array<number>(segments.length).fill(0);
  for (const o of owner) counts[o]!++;
  let next = 0;
  const result = segments.map((s, i) => {
    const tokenStart = next;
    next += counts[i]!;
    return { kind: s.kind, text: s.text, tokenStart, tokenEnd: next };
  });
  return { ids, segments: result };
}

/** Normalize joined[from, to) and find where each segment's part lies in the normalized text. */
function normalizedPortions(
  core: SegmentEncoderCore,
  joined: string,
  starts: readonly number[],
  ends: readonly number[],
  from: number,
  to: number,
  first: number,
  last: number,
): { text: string; list: Portion[] } {
  const text = core.normalize(joined.slice(from, to));
  const raw: { segment: number; a: number; b: number }[] = [];
  for (let s = first; s <= last; s++) {
    const a = Math.max(from, starts[s]!);
    const b = Math.min(to, ends[s]!);
    if (a < b) raw.push({ segment: s, a, b });
  }
  const parts = raw.map((r) => core.normalize(joined.slice(r.a, r.b)));
  const list: Portion[] = [];
  let at = 0;
  if (parts.join("") === text) {
    raw.forEach((r, i) => {
      list.push({ segment: r.segment, start: at, end: at + parts[i]!.length });
      at += parts[i]!.length;
    });
  } else {
    // Normalization joined characters across a boundary: cut where the normalized prefix stops matching.
    raw.forEach((r, i) => {
      const end =
        i === raw.length - 1
          ? text.length
          : commonPrefixLength(core.normalize(joined.slice(from, r.b)), text);
      const clamped = Math.max(at, end);
      list.push({ segment: r.segment, start: at, end: clamped });
      at = clamped;
    });
  }
  return { text, list };
}

/** Give each token of a piece spanning several portions to its owning segment (see SegmentEncoding). */
function attributeStraddlingPiece(
  core: SegmentEncoderCore,
  segments: readonly PromptSegment[],
  portions: readonly Portion[],
  piece: string,
  pieceStart: number,
  firstPortion: number,
  pieceIds: readonly number[],
  ids: number[],
  owner: number[],
): void {
  // Byte offset where each code point of the piece starts, and its UTF-16 index.
  const cpByte: number[] = [];
  const cpIndex: number[] = [];
  let byte = 0;
  for (let i = 0; i < piece.length;) {
    const cp = piece.codePointAt(i)!;
    cpByte.push(byte);
    cpIndex.push(i);
    byte += utf8Length(cp);
    i += cp > 0xffff ? 2 : 1;
  }
  cpByte.push(byte);
  cpIndex.push(piece.length);
  const portionAt = (p: number, from: number): number => {
    let j = from;
    while (portions[j]!.end <= p) j++;
    return j;
  };
  let tokenByte = 0;
  let c = 0; // code point holding tokenByte
  let j = firstPortion;
  for (const id of pieceIds) {
    const len = core.tokenByteLength(id);
    while (cpByte[c + 1]! <= tokenByte) c++;
    let d = c;
    while (cpByte[d + 1]! <= tokenByte + len - 1) d++;
    j = portionAt(pieceStart + cpIndex[c]!, j);
    const lastPortion = portionAt(pieceStart + cpIndex[d + 1]! - 1, j);
    let chosen = j;
    for (let k = j; k <= lastPortion; k++) {
      if (segments[portions[k]!.segment]!.kind === "content") {
        chosen = k;
        break;
      }
    }
    ids.push(id);
    owner.push(portions[chosen]!.segment);
    tokenByte += len;
  }
}
