/**
 * Unicode NFC as the tokenizer.json `normalizer` asks, and the test for a safe cut point in a text stream:
 * a position before which normalization can never change whatever follows.
 */

/** Normalizers this tokenizer implements (tokenizer.json `normalizer.type`, or none). */
export type NormalizerKind = "NFC" | "none";

export function normalizeText(text: string, kind: NormalizerKind): string {
  return kind === "NFC" ? text.normalize("NFC") : text;
}

/**
 * Characters that may interact with the character before them under NFC: combining marks (all characters
 * with a non-zero canonical combining class are marks, and so are Indic two-part vowel signs), the Hangul
 * medial vowels / final consonants that compose with a preceding syllable, and the Kirat Rai vowel signs
 * (letters, Unicode 16, that compose with each other). A test checks this against the runtime's own data.
 */
const MAY_COMPOSE_BACKWARD = /^[\p{M}\u1161-\u1175\u11A8-\u11C2\u{16D67}-\u{16D6A}]/u;

/**
 * True when `text` has an NFC boundary before index `i`: NFC(text[0:i] + x) === NFC(text[0:i]) + NFC(x)
 * for every x starting with text[i]. Requires text[i] to exist; a low surrogate at i is never a boundary.
 */
export function hasNfcBoundaryBefore(text: string, i: number): boolean {
  const code = text.charCodeAt(i);
  if (Number.isNaN(code)) return false;
  if (code < 0x300) return true;
  if (code >= 0xdc00 && code <= 0xdfff) return false;
  return !MAY_COMPOSE_BACKWARD.test(text.slice(i, i + 2));
}
