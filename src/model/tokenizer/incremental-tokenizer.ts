/**
 * Incremental re-tokenization of a text stream (e.g. an LLM's output, produced with another tokenizer) into
 * Qwen token ids. Each push returns the ids it made final. Content is plain text: added tokens are never
 * matched. The held text (the "tail", already normalized) is cut where its ids can no longer change:
 *
 * 1. Between pieces. A pre-tokenizer piece is final once a later piece has started, except that a trailing
 *    whitespace run is held with the piece holding its start (the pattern's `\s+(?!\S)`, `\s*[\r\n]+` and
 *    `[\r\n]*` decide a run's pieces only once a non-space follows it) and the last piece may still grow.
 * 2. Inside a complete piece (one of those final pieces, held only because of rule 5), at a boundary of its BPE
 *    tokens: a piece's BPE depends on that piece alone, so this is exact.
 * 3. Inside the last piece, when it is a letter or symbol run (CJK and Thai have no spaces, so a sentence is
 *    one piece): at a boundary of the BPE of the part received so far that leaves at least
 *    STABLE_MARGIN_BYTES bytes and STABLE_MARGIN_TOKENS tokens held, and before which no vocabulary token
 *    starts that could still grow past the end (no held suffix starting before the cut begins a token:
 *    `tokenPrefixStart`). The ids equal one-shot ids exactly when the one-shot BPE of the whole piece has a
 *    token boundary at each such cut too (a boundary splits BPE into two independent halves). It has in
 *    practice, not by proof (a merge made later can in principle undo merges further back): 100 % of tokens
 *    identical on the RTP-LX CJK, Thai and Korean text with whitespace, punctuation and symbols removed, one
 *    character per push or in random chunks (`npm run bench -- tokenizer-lag`; docs/stream.md).
 * 4. Hard bound: after every push at most `maxHeldChars` characters (UTF-16 code units, default
 *    MAX_HELD_CHARS, including a held high surrogate) are held, whatever the input. When rules 1-3 leave
 *    more, a cut is forced about `maxHeldChars / 2` characters from the end: at a BPE boundary of a letter or
 *    symbol run if one is there (a 64-character run of `=`), else at a character boundary (a long whitespace
 *    run, stacked combining marks), the two sides then being pre-tokenized apart.
 * 5. Every cut lies before a character that never composes with what precedes it under NFC (so the released
 *    text is normalized for good) and never splits a surrogate pair. A cut inside a piece also leaves text
 *    that pre-tokenizes as the rest of that piece (before a letter in a letter run, before two symbols in a
 *    symbol run). Only a forced cut in a run of more than `maxHeldChars` characters without any such point
 *    (hundreds of stacked combining marks) is made without it; the two sides are then normalized apart
 *    (`decode(ids)` stays canonically equivalent to the text).
 *
 * Hence the ids (everything push() and flush() return) equal `tokenizer.encode(wholeText, { specials:
 * false })` except inside pieces where a rule-3 or rule-4 cut was made: a piece of more than
 * STABLE_MARGIN_BYTES bytes of UTF-8 (rule 3: not seen to differ on real text), or a run of more than
 * `maxHeldChars` characters that the hard bound cut (rule 4: may differ around the cut, and in the piece after
 * it where rule 5 could not be met). Text whose pieces are all shorter (ordinary text with spaces and
 * punctuation) streams to exactly the one-shot ids, and so does any text that needed no forced cut as long as
 * rule 3 holds (tested on all RTP-LX prompts in random chunks). `forcedCuts` counts rule-4 cuts.
 *
 * Each push costs O(held + chunk): only the tail and the new chunk are normalized, pre-tokenized and BPE
 * encoded, and the tail is bounded, so a stream costs time linear in its length (`processedChars` counts the
 * work: a few times `maxHeldChars` per character at worst, about 25 for CJK text pushed a character at a time).
 *
 * Byte chunks are decoded as UTF-8 (invalid sequences become U+FFFD, a BOM is kept as text); an incomplete
 * sequence at the end of a byte chunk waits for the next chunk (it is not counted as held), but a string chunk
 * ends it (its bytes become U+FFFD, as decoding the bytes alone would give). A high surrogate ending a string
 * chunk waits for its pair.
 */
import { TextDecoder } from "node:util";
import { TokenizerUsageError } from "./errors.js";
import { hasNfcBoundaryBefore, normalizeText } from "./normalizer.js";
import { isPatternWhiteSpace, pieceEndAt, splitPieces } from "./pre-tokenizer.js";
import type { QwenTokenizer } from "./qwen-tokenizer.js";

/**
 * Default hard bound on the characters (UTF-16 code units) an IncrementalTokenizer holds back after any push:
 * no text waits for its ids while more than this many characters arrive after it (at 20 characters a second,
 * 3.2 s at worst). Unspaced CJK or Thai text typically waits for 8 characters (STABLE_MARGIN_BYTES), at most
 * 26 on the RTP-LX sample.
 */
export const MAX_HELD_CHARS = 64;

/** Smallest `maxHeldChars` accepted. */
export const MIN_MAX_HELD_CHARS = 16;

/**
 * A stable cut inside the last piece leaves at least this many UTF-8 bytes of it held (8 CJK or Thai
 * characters, 24 Latin ones), against merges made later that undo earlier ones: with 12, one of the 2,080
 * RTP-LX prompts streamed in random chunks got other ids for a Cyrillic word; with 24, none.
 */
export const STABLE_MARGIN_BYTES = 24;

/** A stable cut inside the last piece leaves at least this many of its tokens held. */
export const STABLE_MARGIN_TOKENS = 2;

export interface IncrementalTokenizerOptions {
  /**
   * Hard bound on held characters after each push (default MAX_HELD_CHARS; an integer ≥ MIN_MAX_HELD_CHARS).
   * Smaller bounds cut more long runs by force (see the file comment).
   */
  maxHeldChars?: number;
}

const LETTER_RUN = /^[^\r\n\p{L}\p{N}]?\p{L}+$/u;
const SYMBOL_RUN = /^ ?[^\p{White_Space}\p{L}\p{N}]+[\r\n]*$/u;
const IS_LETTER = /^\p{L}/u;
const IS_SYMBOL = /^[^\p{White_Space}\p{L}\p{N}]/u;

type RunKind = "letter" | "symbol";

function runKind(piece: string): RunKind | undefined {
  if (LETTER_RUN.test(piece)) return "letter";
  if (SYMBOL_RUN.test(piece)) return "symbol";
  return undefined;
}

function utf8Length(code: number): number {
  return code < 0x80 ? 1 : code < 0x800 ? 2 : code < 0x10000 ? 3 : 4;
}

/** UTF-8 length of a string (a lone surrogate counts 3 bytes: TextEncoder writes U+FFFD for it). */
function utf8LengthOf(text: string): number {
  let n = 0;
  for (let i = 0; i < text.length;) {
    const w = cpWidth(text, i);
    n += w === 2 ? 4 : utf8Length(text.charCodeAt(i));
    i += w;
  }
  return n;
}

function isCodePointStart(text: string, i: number): boolean {
  const code = text.charCodeAt(i);
  return !(code >= 0xdc00 && code <= 0xdfff && i > 0 && isHighSurrogate(text.charCodeAt(i - 1)));
}

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}

/** Width in UTF-16 units of the code point at i. */
function cpWidth(text: string, i: number): number {
  return isHighSurrogate(text.charCodeAt(i)) && i + 1 < text.length && !isCodePointStart(text, i + 1) ? 2 : 1;
}

/**
 * Whether the text from `local` on re-splits with the rest of `piece` as one piece (so a cut there keeps
 * the pre-tokenization): before a letter in a letter run; before two symbols in a symbol run (one lone
 * symbol could become the prefix of a following letter run, or start a contraction).
 */
function resplitsAlike(piece: string, local: number, kind: RunKind): boolean {
  if (kind === "letter") return IS_LETTER.test(piece.slice(local, local + 2));
  if (!IS_SYMBOL.test(piece.slice(local, local + 2))) return false;
  const next = local + cpWidth(piece, local);
  return next < piece.length && IS_SYMBOL.test(piece.slice(next, next + 2));
}

/** A BPE boundary where the held text can be cut: after `tokens` ids of held piece `piece`, at index `at`. */
interface Cut {
  at: number;
  piece: number;
  tokens: number;
}

/** Cuts found in the held pieces, with the BPE ids of each piece examined (by piece index). */
interface Cuts {
  free: Cut[];
  forced: Cut[];
  ids: Map<number, readonly number[]>;
}

export class IncrementalTokenizer {
  /** Hard bound on held characters after a push. */
  readonly maxHeldChars: number;
  private tail = "";
  private highSurrogate = "";
  private decoder: TextDecoder | undefined;
  private emitted = 0;
  private work = 0;
  private readonly utf8 = new TextEncoder();
  private forced = 0;

  constructor(
    private readonly tokenizer: QwenTokenizer,
    options: IncrementalTokenizerOptions = {},
  ) {
    const max = options.maxHeldChars ?? MAX_HELD_CHARS;
    if (!Number.isInteger(max) || max < MIN_MAX_HELD_CHARS) {
      throw new TokenizerUsageError(
        `maxHeldChars must be an integer ≥ ${MIN_MAX_HELD_CHARS}, got ${String(options.maxHeldChars)}`,
      );
    }
    this.maxHeldChars = max;
  }

  /**
   * Characters (UTF-16 code units) received but not yet turned into ids; excludes an incomplete UTF-8
   * sequence. At most `maxHeldChars` after every push.
   */
  get heldChars(): number {
    return this.tail.length + this.highSurrogate.length;
  }

  /** The held text itself (normalized), for diagnostics. */
  get heldText(): string {
    return this.tail + this.highSurrogate;
  }

  /** Number of ids returned so far. */
  get emittedTokens(): number {
    return this.emitted;
  }

  /**
   * Characters processed so far, counting every pass over them (normalization, pre-tokenization, BPE): the
   * work done, which grows linearly with the input (at most a few times `maxHeldChars` per character).
   */
  get processedChars(): number {
    return this.work;
  }

  /** Cuts forced by the hard bound so far (ids there may differ from one-shot tokenization). */
  get forcedCuts(): number {
    return this.forced;
  }

  /** Add a chunk of the stream; returns the ids that became final. */
  push(chunk: string | Uint8Array): number[] {
    let text: string;
    if (typeof chunk === "string") {
      text = this.endBytes() + chunk;
    } else {
      this.decoder ??= new TextDecoder("utf-8", { ignoreBOM: true });
      text = this.decoder.decode(chunk, { stream: true });
    }
    text = this.highSurrogate + text;
    this.highSurrogate = "";
    if (text.length > 0 && isHighSurrogate(text.charCodeAt(text.length - 1))) {
      this.highSurrogate = text.slice(-1);
      text = text.slice(0, -1);
    }
    if (text.length === 0) return [];
    this.setTail(this.tail + text);
    return this.release(false);
  }

  /** End of stream: returns the remaining ids and resets the tokenizer for a new stream. */
  flush(): number[] {
    const rest = this.endBytes() + this.highSurrogate;
    this.highSurrogate = "";
    this.setTail(this.tail + rest);
    const ids = this.release(true);
    this.emitted = 0;
    this.work = 0;
    this.forced = 0;
    return ids;
  }

  private setTail(text: string): void {
    this.work += text.length;
    this.tail = normalizeText(text, this.tokenizer.normalizer);
  }

  private endBytes(): string {
    if (this.decoder === undefined) return "";
    const rest = this.decoder.decode();
    this.decoder = undefined;
    return rest;
  }

  /** Release the ids before the last cut point the held text allows (all of it when `all`). */
  private release(all: boolean): number[] {
    const text = this.tail;
    this.work += text.length;
    const pieces = splitPieces(text);
    const starts: number[] = [];
    let at = 0;
    for (const p of pieces) {
      starts.push(at);
      at += p.length;
    }
    const ids: number[] = [];
    const count = all ? pieces.length : this.finalPieceCount(starts);
    for (let i = 0; i < count; i++) this.encodeInto(pieces[i]!, ids, true);
    if (count === pieces.length) return this.finish("", ids);

    const from = starts[count]!;
    const limit = this.maxHeldChars - this.highSurrogate.length;
    const cuts = this.cutsInside(text, pieces, starts, count, text.length - from > limit);
    // The stable choice: the last cut allowed without force.
    let best: Cut | undefined;
    for (const c of cuts.free) if (best === undefined || c.at > best.at) best = c;
    if (best !== undefined && text.length - best.at <= limit) {
      this.idsBefore(best, pieces, count, cuts, ids);
      return this.finish(text.slice(best.at), ids);
    }
    if (text.length - from <= limit) return this.finish(text.slice(from), ids);

    // Forced by the hard bound: the BPE boundary leaving closest to half the bound held (so that forced cuts
    // are rare: one per limit / 2 characters at most) ...
    this.forced++;
    let forced: Cut | undefined;
    const gap = (c: Cut): number => Math.abs(text.length - c.at - limit / 2);
    for (const c of [...cuts.free, ...cuts.forced]) {
      if (text.length - c.at <= limit && (forced === undefined || gap(c) < gap(forced))) forced = c;
    }
    if (forced !== undefined) {
      this.idsBefore(forced, pieces, count, cuts, ids);
      return this.finish(text.slice(forced.at), ids);
    }
    // ... else a character boundary about half the bound back; the two sides are pre-tokenized apart.
    const cut = this.fallbackCut(text, pieces, starts, text.length - limit, limit);
    this.encodeInto(text.slice(from, cut), ids, false);
    return this.finish(text.slice(cut), ids);
  }

  /** Append the ids of the held text before `cut` (held pieces from `first` on) to `out`. */
  private idsBefore(cut: Cut, pieces: readonly string[], first: number, cuts: Cuts, out: number[]): void {
    for (let i = first; i < cut.piece; i++) {
      const known = cuts.ids.get(i);
      if (known === undefined) this.encodeInto(pieces[i]!, out, true);
      else for (const id of known) out.push(id);
    }
    const ids = cuts.ids.get(cut.piece)!;
    for (let k = 0; k < cut.tokens; k++) out.push(ids[k]!);
  }

  private finish(rest: string, ids: number[]): number[] {
    this.tail = rest;
    this.emitted += ids.length;
    return ids;
  }

  /** Ids of normalized text (one piece when `piece`, else pre-tokenized first), appended to `out`. */
  private encodeInto(text: string, out: number[], piece: boolean): void {
    if (text.length === 0) return;
    this.work += text.length;
    if (piece) {
      for (const id of this.tokenizer.encodePiece(text)) out.push(id);
    } else {
      this.tokenizer.encodeNormalizedPlain(text, out);
    }
  }

  /** How many leading pieces no future text can change (see the file comment). */
  private finalPieceCount(starts: readonly number[]): number {
    let held = starts.length - 1; // the last piece may still grow
    const ws = this.trailingWhiteSpaceStart();
    if (ws < this.tail.length) {
      while (held > 0 && starts[held]! > ws) held--;
    }
    // The cut must not be followed by a character that NFC could join to the released text.
    while (held > 0 && !this.isSafeCut(starts[held]!)) held--;
    return Math.max(held, 0);
  }

  private trailingWhiteSpaceStart(): number {
    const text = this.tail;
    let ws = text.length;
    while (ws > 0 && isPatternWhiteSpace(text[ws - 1]!)) ws--; // White_Space is all in the BMP
    return ws;
  }

  /** Whether the held text can be cut before index i as far as normalization goes. */
  private isSafeCut(i: number): boolean {
    return this.tokenizer.normalizer === "NFC"
      ? hasNfcBoundaryBefore(this.tail, i)
      : isCodePointStart(this.tail, i);
  }

  /**
   * BPE token boundaries inside the held pieces (from piece `first` on) where the text can be cut: `free`
   * ones (rules 3 and 4 of the file comment) and `forced` ones (boundaries of the last piece too close to its
   * end to count as stable, for rule 5). Each carries the ids of the held text before it.
   */
  private cutsInside(
    text: string,
    pieces: readonly string[],
    starts: readonly number[],
    first: number,
    overLimit: boolean,
  ): Cuts {
    const cuts: Cuts = { free: [], forced: [], ids: new Map() };
    const ws = this.trailingWhiteSpaceStart();
    for (let i = first; i < pieces.length; i++) {
      const piece = pieces[i]!;
      const start = starts[i]!;
      // The piece holding the start of a trailing whitespace run, and those after it, may still change.
      if (ws < text.length && start + piece.length > ws) break;
      const kind = piece.length > 1 ? runKind(piece) : undefined;
      if (kind === undefined) continue;
      const last = i === pieces.length - 1;
      // Too short for a stable cut (and none is forced)
      if (last && !overLimit && piece.length * 3 <= STABLE_MARGIN_BYTES) continue;
      // The last piece is unlikely to recur as it is: keep it out of the BPE cache.
      const ids = last ? this.tokenizer.encodePieceUncached(piece) : this.tokenizer.encodePiece(piece);
      this.work += piece.length;
      cuts.ids.set(i, ids);
      this.collectCuts(piece, start, kind, ids, last, i, cuts);
    }
    return cuts;
  }

  private collectCuts(
    piece: string,
    start: number,
    kind: RunKind,
    ids: readonly number[],
    last: boolean,
    index: number,
    cuts: Cuts,
  ): void {
    const bytes = utf8LengthOf(piece);
    const found: { cut: Cut; byte: number; margin: boolean }[] = [];
    // Walk the token ends and the code point starts together (both in bytes).
    let i = 0; // code point start in the piece
    let byte = 0; // its byte offset
    let tokenByte = 0;
    for (let k = 0; k < ids.length - 1; k++) {
      tokenByte += this.tokenizer.tokenToBytes(ids[k]!).length;
      while (byte < tokenByte) {
        const w = cpWidth(piece, i);
        byte += utf8Length(w === 2 ? piece.codePointAt(i)! : piece.charCodeAt(i));
        i += w;
      }
      if (byte !== tokenByte || i === 0) continue; // the token ends inside a character
      const at = start + i;
      if (!this.isSafeCut(at) || !resplitsAlike(piece, i, kind)) continue;
      const margin = bytes - tokenByte >= STABLE_MARGIN_BYTES && ids.length - (k + 1) >= STABLE_MARGIN_TOKENS;
      found.push({ cut: { at, piece: index, tokens: k + 1 }, byte: tokenByte, margin });
    }
    if (!last) {
      for (const f of found) cuts.free.push(f.cut);
      return;
    }
    // In the last piece, a cut is stable only if no token that could still grow past the end of what has
    // arrived starts before it.
    let latest = 0;
    for (const f of found) if (f.margin) latest = Math.max(latest, f.byte);
    const reach = latest > 0 ? this.tokenizer.tokenPrefixStart(this.utf8.encode(piece), latest) : 0;
    for (const f of found) (f.margin && f.byte <= reach ? cuts.free : cuts.forced).push(f.cut);
  }

  /**
   * A forced cut in [min, text.length) where no BPE boundary serves, about `limit / 2` characters from the end:
   * preferably where normalization is final and the text after it starts the same piece as before (so the
   * pieces after this one keep their ids), else where normalization is final, else at any code point start.
   */
  private fallbackCut(
    text: string,
    pieces: readonly string[],
    starts: readonly number[],
    min: number,
    limit: number,
  ): number {
    const target = Math.max(min, text.length - Math.floor(limit / 2));
    const order: number[] = [];
    for (let i = target; i < text.length; i++) order.push(i);
    for (let i = target - 1; i >= min; i--) order.push(i);
    let piece = pieces.length - 1;
    const pieceEnd = (i: number): number => {
      while (piece > 0 && starts[piece]! > i) piece--;
      while (piece < pieces.length - 1 && starts[piece + 1]! <= i) piece++;
      return starts[piece]! + pieces[piece]!.length;
    };
    let safe: number | undefined;
    for (const i of order) {
      if (!this.isSafeCut(i)) continue;
      if (pieceEndAt(text, i) === pieceEnd(i)) return i;
      safe ??= i;
    }
    if (safe !== undefined) return safe;
    for (const i of order) if (isCodePointStart(text, i)) return i;
    return text.length; // unreachable: a code point starts within any two units
  }
}
