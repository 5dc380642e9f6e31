/**
 * Qwen2/Qwen3 pre-tokenizer: the `Split` regex of tokenizer.json with behavior "Isolated" (every match and
 * every unmatched gap becomes a piece, in order), before byte-level BPE runs on each piece.
 *
 * The tokenizer.json pattern is written for Oniguruma (what Hugging Face `tokenizers` uses):
 *   (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
 * Two translations are needed for JavaScript:
 * - Node 20 has no inline `(?i:...)`; the contractions are spelt with ASCII case classes. This folds ASCII
 *   letters only (so `'ſ` is not a contraction), as transformers.js/tokenizers.js and llama.cpp do.
 * - JS `\s` differs from Oniguruma's Unicode `\s` (the White_Space property): JS adds U+FEFF and lacks
 *   U+0085. We spell it `\p{White_Space}`.
 */

/** The pattern string exactly as Qwen2/Qwen3 tokenizer.json files carry it. */
export const QWEN2_SPLIT_PATTERN =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

const WS = "\\p{White_Space}";
const NOT_WS = "\\P{White_Space}";

/** JavaScript translation of QWEN2_SPLIT_PATTERN (flags `gu`). */
export const QWEN2_SPLIT_SOURCE = [
  "'(?:[sStTmMdD]|[rR][eE]|[vV][eE]|[lL][lL])",
  "[^\\r\\n\\p{L}\\p{N}]?\\p{L}+",
  "\\p{N}",
  ` ?[^${WS}\\p{L}\\p{N}]+[\\r\\n]*`,
  `${WS}*[\\r\\n]+`,
  `${WS}+(?!${NOT_WS})`,
  `${WS}+`,
].join("|");

const SPLIT_RE = new RegExp(QWEN2_SPLIT_SOURCE, "gu");

/**
 * Split `text` into pre-tokenizer pieces. The pieces concatenate to `text` (unmatched gaps, which the
 * pattern leaves only around lone surrogates, are kept as pieces of their own).
 */
export function splitPieces(text: string): string[] {
  const pieces: string[] = [];
  const re = new RegExp(SPLIT_RE); // own lastIndex: safe under re-entrancy
  let last = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(text)) !== null) {
    const start = m.index;
    const piece = m[0];
    if (piece.length === 0) {
      re.lastIndex++; // cannot happen with this pattern; guards against an endless loop
      continue;
    }
    if (start > last) pieces.push(text.slice(last, start));
    pieces.push(piece);
    last = start + piece.length;
  }
  if (last < text.length) pieces.push(text.slice(last));
  return pieces;
}

const STICKY_SPLIT_RE = new RegExp(QWEN2_SPLIT_SOURCE, "uy");

/**
 * End of the piece the pattern matches at index `i` of `text` (as splitPieces(text.slice(i)) would start:
 * the pattern looks only forward), or i + 1 where nothing matches there.
 */
export function pieceEndAt(text: string, i: number): number {
  const re = new RegExp(STICKY_SPLIT_RE);
  re.lastIndex = i;
  const m = re.exec(text);
  return m === null || m[0].length === 0 ? i + 1 : i + m[0].length;
}

const WHITE_SPACE_RE = /\p{White_Space}/u;

/** True when the code unit string `ch` (one code point) is White_Space, as the pattern's `\s` means it. */
export function isPatternWhiteSpace(ch: string): boolean {
  return WHITE_SPACE_RE.test(ch);
}
