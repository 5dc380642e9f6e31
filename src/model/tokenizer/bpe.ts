/**
 * Byte-level BPE over token ids: a word's UTF-8 bytes start as one-byte tokens and the adjacent pair with
 * the lowest merge rank is merged (leftmost first on ties) until no ranked pair remains, as Hugging Face
 * `tokenizers` does. Results are cached per word.
 */
import { TokenizerFormatError } from "./errors.js";

const POS_FACTOR = 2 ** 32; // heap keys are rank * POS_FACTOR + position
const CACHE_LIMIT = 100_000;
const MAX_CACHED_WORD_LENGTH = 256;

/**
 * (left id, right id) → merge rank, by open addressing in one Int32Array: ~6 MiB for Qwen3's 151k merges, where a
 * Map keyed by left × vocabulary + right (beyond small integers, so every key a boxed number) took ~10 MiB and twice
 * that while it grew.
 */
class PairRanks {
  /** Per slot: left, right, rank; left -1 marks an empty slot. */
  private readonly table: Int32Array;
  private readonly mask: number;

  constructor(count: number) {
    let slots = 1024;
    while (slots < 2 * count) slots *= 2; // at most half full: a miss probes ~1.5 slots
    this.table = new Int32Array(3 * slots).fill(-1);
    this.mask = slots - 1;
  }

  private first(left: number, right: number): number {
    const h = Math.imul(left, 0x9e3779b1) ^ Math.imul(right, 0x85ebca6b);
    return (h ^ (h >>> 15)) & this.mask;
  }

  set(left: number, right: number, rank: number): void {
    const t = this.table;
    for (let i = this.first(left, right); ; i = (i + 1) & this.mask) {
      const at = 3 * i;
      if (t[at] === -1 || (t[at] === left && t[at + 1] === right)) {
        t[at] = left;
        t[at + 1] = right;
        t[at + 2] = rank;
        return;
      }
    }
  }

  /** The rank, or -1 when the pair has none. */
  get(left: number, right: number): number {
    const t = this.table;
    for (let i = this.first(left, right); ; i = (i + 1) & this.mask) {
      const at = 3 * i;
      const l = t[at]!;
      if (l === -1) return -1;
      if (l === left && t[at + 1] === right) return t[at + 2]!;
    }
  }
}

export class BytePairEncoder {
  /** Token id of each single byte. */
  private readonly byteIds: Int32Array;
  /** (left, right) → merge rank. */
  private readonly ranks: PairRanks;
  /** merge rank → id of the merged token. */
  private readonly mergedIds: Int32Array;
  private readonly cache = new Map<string, readonly number[]>();
  private readonly encoder = new TextEncoder();

  /**
   * @param byteIds id of the token for each byte 0..255.
   * @param merges merge list in rank order, flat: leftId, rightId, mergedId of rank 0, then of rank 1, ...
   *   (ids are non-negative).
   */
  constructor(byteIds: Int32Array, merges: Int32Array) {
    if (byteIds.length !== 256)
      throw new TokenizerFormatError("byte-level BPE needs an id for each of the 256 bytes");
    const count = Math.floor(merges.length / 3);
    if (count >= 2 ** 21) throw new TokenizerFormatError(`${count} merges: at most 2^21 are supported`);
    this.byteIds = byteIds;
    this.ranks = new PairRanks(count);
    this.mergedIds = new Int32Array(count);
    for (let rank = 0; rank < count; rank++) {
      // A repeated pair takes its last rank, as the map that tokenizers collects from the list does.
      this.ranks.set(merges[3 * rank]!, merges[3 * rank + 1]!, rank);
      this.mergedIds[rank] = merges[3 * rank + 2]!;
    }
  }

  /** BPE token ids of one pre-tokenizer piece. */
  encodeWord(word: string): readonly number[] {
    const cached = this.cache.get(word);
    if (cached !== undefined) return cached;
    const ids = this.merge(this.encoder.encode(word));
    if (word.length <= MAX_CACHED_WORD_LENGTH) {
      if (this.cache.size >= CACHE_LIMIT) this.cache.clear();
      this.cache.set(word, ids);
    }
    return ids;
  }

  /** BPE token ids of one piece, bypassing the cache (for pieces unlikely to recur, e.g. a growing stream tail). */
  encodeWordUncached(word: string): readonly number[] {
    return this.cache.get(word) ?? this.merge(this.encoder.encode(word));
  }

  private rankOf(left: number, right: number): number | undefined {
    const rank = this.ranks.get(left, right);
    return rank < 0 ? undefined : rank;
  }

  private merge(bytes: Uint8Array): number[] {
    const n = bytes.length;
    const ids = new Int32Array(n);
    for (let i = 0; i < n; i++) ids[i] = this.byteIds[bytes[i]!]!;
    if (n < 2) return Array.from(ids);
    const next = new Int32Array(n);
    const prev = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      next[i] = i + 1 < n ? i + 1 : -1;
      prev[i] = i - 1;
    }
    const heap = new MinHeap();
    for (let i = 0; i + 1 < n; i++) {
      const rank = this.rankOf(ids[i]!, ids[i + 1]!);
      if (rank !== undefined) heap.push(rank * POS_FACTOR + i);
    }
    while (heap.size > 0) {
      const key = heap.pop();
      const rank = Math.floor(key / POS_FACTOR);
      const pos = key - rank * POS_FACTOR;
      const right = next[pos]!;
      // Skip stale entries: the symbol was merged away, or its pair changed since the entry was pushed.
      if (ids[pos] === -1 || right === -1 || this.rankOf(ids[pos]!, ids[right]!) !== rank) continue;
      ids[pos] = this.mergedIds[rank]!;
      ids[right] = -1;
      const after = next[right]!;
      next[pos] = after;
      if (after !== -1) prev[after] = pos;
      const before = prev[pos]!;
      if (before !== -1) {
        const r = this.rankOf(ids[before]!, ids[pos]!);
        if (r !== undefined) heap.push(r * POS_FACTOR + before);
      }
      if (after !== -1) {
        const r = this.rankOf(ids[pos]!, ids[after]!);
        if (r !== undefined) heap.push(r * POS_FACTOR + pos);
      }
    }
    const out: number[] = [];
    for (let i = 0; i !== -1; i = next[i]!) out.push(ids[i]!);
    return out;
  }
}

/** Binary min-heap of numbers. */
class MinHeap {
  private readonly items: number[] = [];

  get size(): number {
    return this.items.length;
  }

  push(value: number): void {
    const a = this.items;
    let i = a.length;
    a.push(value);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (a[parent]! <= value) break;
      a[i] = a[parent]!;
      i = parent;
    }
    a[i] = value;
  }

  pop(): number {
    const a = this.items;
    const top = a[0]!;
    const last = a.pop()!;
    const n = a.length;
    if (n > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= n) break;
        const r = l + 1;
        const c = r < n && a[r]! < a[l]! ? r : l;
        if (a[c]! >= last) break;
        a[i] = a[c]!;
        i = c;
      }
      a[i] = last;
    }
    return top;
  }
}
