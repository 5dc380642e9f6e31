/**
 * Byte-level BPE over token ids: a word's UTF-8 bytes start as one-byte tokens and the adjacent pair with
 * the lowest merge rank is merged (leftmost first on ties) until no ranked pair remains, as Hugging Face
 * `tokenizers` does. Results are cached per word.
 */
import { TokenizerFormatError } from "./errors.js";

const POS_FACTOR = 2 ** 32; // heap keys are rank * POS_FACTOR + position
const CACHE_LIMIT = 100_000;
const MAX_CACHED_WORD_LENGTH = 256;

export class BytePairEncoder {
  /** Token id of each single byte. */
  private readonly byteIds: Int32Array;
  /** pair key (left * pairBase + right) → merge rank. */
  private readonly ranks = new Map<number, number>();
  /** merge rank → id of the merged token. */
  private readonly mergedIds: Int32Array;
  private readonly pairBase: number;
  private readonly cache = new Map<string, readonly number[]>();
  private readonly encoder = new TextEncoder();

  /**
   * @param byteIds id of the token for each byte 0..255.
   * @param merges merge list in rank order, as [leftId, rightId, mergedId] triples.
   * @param vocabSize one more than the largest id.
   */
  constructor(
    byteIds: Int32Array,
    merges: readonly (readonly [number, number, number])[],
    vocabSize: number,
  ) {
    if (byteIds.length !== 256)
      throw new TokenizerFormatError("byte-level BPE needs an id for each of the 256 bytes");
    if (merges.length >= 2 ** 21)
      throw new TokenizerFormatError(`${merges.length} merges: at most 2^21 are supported`);
    this.byteIds = byteIds;
    this.pairBase = vocabSize;
    this.mergedIds = new Int32Array(merges.length);
    merges.forEach(([left, right, merged], rank) => {
      const key = left * this.pairBase + right;
      // A repeated pair takes its last rank, as the map that tokenizers collects from the list does.
      this.ranks.set(key, rank);
      this.mergedIds[rank] = merged;
    });
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
    return this.ranks.get(left * this.pairBase + right);
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
