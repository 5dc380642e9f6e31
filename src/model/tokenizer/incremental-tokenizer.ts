/**
 * Incremental re-tokenization of a text stream (e.g. an LLM's output, produced with another tokenizer) into
 * Qwen token ids. Each push returns the ids that no later text can change; the concatenation of everything
 * push() and flush() return equals `tokenizer.encode(wholeText, { specials: false })`. Content is plain
 * text: added tokens are never matched.
 *
 * What is held back (the "tail", already NFC-normalized) is the last pre-tokenizer piece, extended back to
 * the piece holding the start of a trailing whitespace run: the pattern's `\s+(?!\S)`, `\s*[\r\n]+` and
 * `[\r\n]*` decide a whitespace run's pieces only once a non-space character follows it, and a letter or
 * punctuation piece at the end may still grow. The cut must also lie before a character that never
 * composes with what precedes it under NFC. Only the tail is re-tokenized on each push.
 *
 * Byte chunks are decoded as UTF-8 (invalid sequences become U+FFFD, a BOM is kept as text); an incomplete
 * sequence at the end of a byte chunk waits for the next chunk, but a string chunk ends it (its bytes become
 * U+FFFD, as decoding the bytes alone would give). A high surrogate ending a string chunk waits for its pair.
 */
import { TextDecoder } from "node:util";
import { hasNfcBoundaryBefore, normalizeText } from "./normalizer.js";
import { isPatternWhiteSpace, splitPieces } from "./pre-tokenizer.js";
import type { QwenTokenizer } from "./qwen-tokenizer.js";

export class IncrementalTokenizer {
  private tail = "";
  private highSurrogate = "";
  private decoder: TextDecoder | undefined;
  private emitted = 0;

  constructor(private readonly tokenizer: QwenTokenizer) {}

  /** Characters (UTF-16 code units) received but not yet turned into ids; excludes an incomplete UTF-8 sequence. */
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
    const lastCode = text.charCodeAt(text.length - 1);
    if (lastCode >= 0xd800 && lastCode <= 0xdbff) {
      this.highSurrogate = text.slice(-1);
      text = text.slice(0, -1);
    }
    if (text.length === 0) return [];
    this.tail = normalizeText(this.tail + text, this.tokenizer.normalizer);
    return this.release(false);
  }

  /** End of stream: returns the remaining ids and resets the tokenizer for a new stream. */
  flush(): number[] {
    const rest = this.endBytes() + this.highSurrogate;
    this.highSurrogate = "";
    this.tail = normalizeText(this.tail + rest, this.tokenizer.normalizer);
    const ids = this.release(true);
    this.emitted = 0;
    return ids;
  }

  private endBytes(): string {
    if (this.decoder === undefined) return "";
    const rest = this.decoder.decode();
    this.decoder = undefined;
    return rest;
  }

  /** Encode the final pieces of the tail (all of them when `all`) and keep the rest. */
  private release(all: boolean): number[] {
    const pieces = splitPieces(this.tail);
    const starts: number[] = [];
    let at = 0;
    for (const p of pieces) {
      starts.push(at);
      at += p.length;
    }
    const count = all ? pieces.length : this.finalPieceCount(starts);
    const ids: number[] = [];
    for (let i = 0; i < count; i++) {
      for (const id of this.tokenizer.encodePiece(pieces[i]!)) ids.push(id);
    }
    this.tail = count === pieces.length ? "" : this.tail.slice(starts[count]!);
    this.emitted += ids.length;
    return ids;
  }

  /** How many leading pieces no future text can change (see the file comment). */
  private finalPieceCount(starts: readonly number[]): number {
    const text = this.tail;
    let held = starts.length - 1; // the last piece may still grow
    let ws = text.length;
    while (ws > 0 && isPatternWhiteSpace(text[ws - 1]!)) ws--; // White_Space is all in the BMP
    if (ws < text.length) {
      while (held > 0 && starts[held]! > ws) held--;
    }
    // The cut must not be followed by a character that NFC could join to the released text.
    const nfc = this.tokenizer.normalizer === "NFC";
    while (
      held > 0 &&
      !(nfc ? hasNfcBoundaryBefore(text, starts[held]!) : isCodePointStart(text, starts[held]!))
    )
      held--;
    return Math.max(held, 0);
  }
}

function isCodePointStart(text: string, i: number): boolean {
  const code = text.charCodeAt(i);
  return !(code >= 0xdc00 && code <= 0xdfff);
}
