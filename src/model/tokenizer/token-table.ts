/**
 * A vocabulary's token strings by id, and the index of its byte-level BPE tokens (string → id), held in one string
 * and a few typed arrays. For Qwen3's 151,936 tokens that is ~6 MiB where an array of 151,936 strings and a Map
 * took ~17 MiB of JS heap; and building it leaves no 151k surviving strings behind: tokens are joined into chunks
 * as they are pushed, so each token's own string dies young (151k surviving strings made V8 grow its young
 * generation to its 32 MiB maximum, resident until a later GC).
 */

const PRESENT = 1;
const BPE = 2;
/** Tokens joined into one string at a time while pushing. */
const CHUNK = 4096;

/** FNV-1a over UTF-16 code units. */
function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

export class TokenTable {
  /** @internal Built by TokenTableBuilder. */
  constructor(
    /** Every token, concatenated in id order. */
    private readonly text: string,
    /** Token `id` is text[starts[id], starts[id + 1]). */
    private readonly starts: Int32Array,
    private readonly flags: Uint8Array,
    /** Open addressing over the BPE tokens: an id, or -1 for an empty slot. */
    private readonly index: Int32Array,
  ) {}

  /** One more than the largest id. */
  get size(): number {
    return this.flags.length;
  }

  /** The token of `id`, or undefined when no token has that id. */
  token(id: number): string | undefined {
    if (!Number.isInteger(id) || id < 0 || id >= this.size || (this.flags[id]! & PRESENT) === 0) {
      return undefined;
    }
    return this.text.slice(this.starts[id]!, this.starts[id + 1]!);
  }

  /** The id of a byte-level BPE token (added and unused tokens are not indexed), or undefined. */
  bpeId(token: string): number | undefined {
    const mask = this.index.length - 1;
    for (let i = hashString(token) & mask; ; i = (i + 1) & mask) {
      const id = this.index[i]!;
      if (id === -1) return undefined;
      const start = this.starts[id]!;
      if (this.starts[id + 1]! - start === token.length && this.text.startsWith(token, start)) return id;
    }
  }

  /** Every BPE token once (the first id of a repeated string), by increasing id. */
  *bpeTokens(): IterableIterator<string> {
    for (let id = 0; id < this.size; id++) {
      if ((this.flags[id]! & BPE) !== 0) yield this.text.slice(this.starts[id]!, this.starts[id + 1]!);
    }
  }
}

/** Builds a TokenTable from tokens pushed in id order. */
export class TokenTableBuilder {
  private readonly starts: Int32Array;
  private readonly flags: Uint8Array;
  private readonly hashes: Uint32Array;
  private chunks: string[] = [];
  private part: string[] = [];
  private chars = 0;
  private next = 0;

  /** @param size the number of ids (one more than the largest). */
  constructor(readonly size: number) {
    this.starts = new Int32Array(size + 1);
    this.flags = new Uint8Array(size);
    this.hashes = new Uint32Array(size);
  }

  /** The ids pushed so far. */
  get pushed(): number {
    return this.next;
  }

  /** Append the token of the next id (undefined: no token has this id). */
  push(token: string | undefined): void {
    const id = this.next++;
    if (id >= this.size) throw new RangeError(`more than ${this.size} tokens pushed`);
    if (token !== undefined) {
      this.flags[id] = PRESENT;
      this.hashes[id] = hashString(token);
      this.part.push(token);
      this.chars += token.length;
      if (this.part.length === CHUNK) this.flush();
    }
    this.starts[id + 1] = this.chars;
  }

  /** Length of the token pushed for `id` (0 when it has none). */
  tokenLength(id: number): number {
    return this.starts[id + 1]! - this.starts[id]!;
  }

  /** Index `id` as a byte-level BPE token; a later id with the same string stays out of the index. */
  markBpe(id: number): void {
    this.flags[id]! |= BPE;
  }

  private flush(): void {
    if (this.part.length > 0) this.chunks.push(this.part.join(""));
    this.part = [];
  }

  build(): TokenTable {
    while (this.next < this.size) this.push(undefined);
    this.flush();
    const text = this.chunks.join("");
    this.chunks = [];
    let bpeCount = 0;
    for (let id = 0; id < this.size; id++) if ((this.flags[id]! & BPE) !== 0) bpeCount++;
    let slots = 16;
    while (slots < 2 * bpeCount) slots *= 2; // at most half full
    const index = new Int32Array(slots).fill(-1);
    const mask = slots - 1;
    const { starts, flags, hashes } = this;
    const same = (a: number, b: number): boolean => {
      const length = starts[a + 1]! - starts[a]!;
      if (starts[b + 1]! - starts[b]! !== length) return false;
      for (let k = 0; k < length; k++) {
        if (text.charCodeAt(starts[a]! + k) !== text.charCodeAt(starts[b]! + k)) return false;
      }
      return true;
    };
    for (let id = 0; id < this.size; id++) {
      if ((flags[id]! & BPE) === 0) continue;
      for (let i = hashes[id]! & mask; ; i = (i + 1) & mask) {
        const other = index[i]!;
        if (other === -1) {
          index[i] = id;
          break;
        }
        if (hashes[other] === hashes[id] && same(other, id)) {
          flags[id]! &= ~BPE; // the first id of a string keeps it
          break;
        }
      }
    }
    return new TokenTable(text, starts, flags, index);
  }
}
