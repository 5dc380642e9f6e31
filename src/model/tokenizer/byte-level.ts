/**
 * GPT-2 style byte-level alphabet: every byte 0..255 is shown as one printable Unicode character, so that
 * any UTF-8 byte string can be written with vocabulary strings. Printable Latin-1 bytes map to themselves,
 * the others (controls, space, 0x7F-0xA0, 0xAD) to U+0100 upward, in byte order.
 */

function buildByteToChar(): string[] {
  const table: string[] = new Array<string>(256);
  let next = 256;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
    table[b] = String.fromCodePoint(printable ? b : next++);
  }
  return table;
}

/** `BYTE_TO_CHAR[b]` is the one-character string standing for byte b. */
export const BYTE_TO_CHAR: readonly string[] = buildByteToChar();

const CHAR_TO_BYTE = new Map<string, number>(BYTE_TO_CHAR.map((c, b) => [c, b]));

/** Map a byte-level vocabulary string to its bytes; undefined when a character is outside the alphabet. */
export function byteLevelToBytes(token: string): Uint8Array | undefined {
  const out: number[] = [];
  for (const ch of token) {
    const b = CHAR_TO_BYTE.get(ch);
    if (b === undefined) return undefined;
    out.push(b);
  }
  return Uint8Array.from(out);
}

/** Map bytes to their byte-level string. */
export function bytesToByteLevel(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += BYTE_TO_CHAR[b];
  return s;
}
