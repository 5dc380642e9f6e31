/**
 * Byte-level BPE tokenizer for Qwen2/Qwen3 vocabularies, id-for-id equal to Hugging Face `tokenizers`:
 * added tokens matched literally (template text only), NFC, the Qwen2 split regex, byte-level BPE.
 */
import type { PromptSegment } from "../../core/segments.js";
import { AddedTokenMatcher } from "./added-tokens.js";
import { BytePairEncoder } from "./bpe.js";
import { byteLevelToBytes, bytesToByteLevel } from "./byte-level.js";
import { TokenizerUsageError } from "./errors.js";
import { normalizeText, type NormalizerKind } from "./normalizer.js";
import { splitPieces } from "./pre-tokenizer.js";
import { IncrementalTokenizer, type IncrementalTokenizerOptions } from "./incremental-tokenizer.js";
import { encodeSegmentsWith, type SegmentEncoding } from "./segment-encoder.js";
import type { TokenTable } from "./token-table.js";
import {
  byteTokenIds,
  resolveMerges,
  specFromTokenizerJson,
  specFromVocabulary,
  type AddedToken,
  type RawVocabulary,
  type TokenizerSpec,
} from "./vocabulary.js";

export interface EncodeOptions {
  /**
   * true: added tokens (`<|im_start|>`, `<think>`...) written in the text become their ids, as Hugging Face
   * does. false: the text is plain text throughout. Never pass true for untrusted text.
   */
  specials: boolean;
}

export interface DecodeOptions {
  /** Drop special tokens (tokenizer.json `special: true`, GGUF control), like HF `skip_special_tokens`. */
  skipSpecialTokens?: boolean;
}

export class QwenTokenizer {
  /** One more than the largest token id. */
  readonly vocabSize: number;
  /** Text normalizer applied to text between added tokens. */
  readonly normalizer: NormalizerKind;
  /** Added tokens, by increasing id. */
  readonly addedTokens: readonly AddedToken[];

  /** Token strings by id and the BPE index. */
  private readonly table: TokenTable;
  private readonly bpe: BytePairEncoder;
  private readonly matcher: AddedTokenMatcher;
  private readonly addedById = new Map<number, AddedToken>();
  private readonly bytesCache: (Uint8Array | undefined)[] = [];
  private readonly utf8 = new TextEncoder();
  /** BPE tokens in byte-level form, sorted (built on first use), and the longest one's length. */
  private sortedBpeTokens: string[] | undefined;
  private longestBpeToken = 0;

  private constructor(spec: TokenizerSpec) {
    this.table = spec.table;
    this.vocabSize = spec.table.size;
    this.normalizer = spec.normalizer;
    this.addedTokens = [...spec.added].sort((a, b) => a.id - b.id);
    for (const t of this.addedTokens) this.addedById.set(t.id, t);
    this.matcher = new AddedTokenMatcher(this.addedTokens);
    const byteIds = byteTokenIds(spec.table);
    this.bpe = new BytePairEncoder(byteIds, resolveMerges(spec.table, spec.merges));
  }

  /** Build from a Hugging Face tokenizer.json (parsed object or file path). */
  static fromTokenizerJson(pathOrObject: string | object): QwenTokenizer {
    return new QwenTokenizer(specFromTokenizerJson(pathOrObject));
  }

  /** Build from raw vocabulary arrays (GGUF `tokenizer.ggml.tokens` / `.merges` / `.token_type`). */
  static fromVocabulary(vocabulary: RawVocabulary): QwenTokenizer {
    return new QwenTokenizer(specFromVocabulary(vocabulary));
  }

  /** @internal Build from a checked spec (specFromTokenTable: a GGUF vocabulary read as it streams). */
  static fromSpec(spec: TokenizerSpec): QwenTokenizer {
    return new QwenTokenizer(spec);
  }

  /** Token ids of `text`. See EncodeOptions.specials. */
  encode(text: string, options: EncodeOptions): number[] {
    const ids: number[] = [];
    if (!options.specials) {
      this.appendPlain(text, ids);
      return ids;
    }
    let last = 0;
    for (const m of this.matcher.findAll(text)) {
      this.appendPlain(text.slice(last, m.start), ids);
      ids.push(m.id);
      last = m.end;
    }
    this.appendPlain(text.slice(last), ids);
    return ids;
  }

  /**
   * Token ids of a rendered prompt. Added tokens are recognised only in `template` segments; `content`
   * segments are plain text. Text between two added tokens is normalized and pre-tokenized as one string,
   * across segment boundaries, so a benign prompt gets the ids HF gives its joined text. See SegmentEncoding
   * for how a token straddling two segments is attributed.
   */
  encodeSegments(segments: readonly PromptSegment[]): SegmentEncoding {
    for (const [i, s] of segments.entries()) {
      if (s.kind !== "template" && s.kind !== "content") {
        throw new TokenizerUsageError(
          `segment ${i} has kind ${JSON.stringify(s.kind)}: use "template" or "content"`,
        );
      }
      if (typeof s.text !== "string") throw new TokenizerUsageError(`segment ${i} has no text string`);
    }
    return encodeSegmentsWith(
      {
        matchAddedTokens: (text) => this.matcher.findAll(text),
        normalize: (text) => normalizeText(text, this.normalizer),
        encodePiece: (piece) => this.bpe.encodeWord(piece),
        tokenByteLength: (id) => this.tokenToBytes(id).length,
      },
      segments,
    );
  }

  /** Text of `ids` (UTF-8, invalid sequences replaced by U+FFFD). */
  decode(ids: readonly number[], options: DecodeOptions = {}): string {
    const parts: Uint8Array[] = [];
    let length = 0;
    for (const id of ids) {
      if (options.skipSpecialTokens && this.addedById.get(id)?.special) continue;
      const bytes = this.tokenToBytes(id);
      parts.push(bytes);
      length += bytes.length;
    }
    const all = new Uint8Array(length);
    let at = 0;
    for (const p of parts) {
      all.set(p, at);
      at += p.length;
    }
    return new TextDecoder("utf-8", { ignoreBOM: true }).decode(all);
  }

  /** The bytes a token stands for (for streaming decode: a token may hold part of a UTF-8 character). */
  tokenToBytes(id: number): Uint8Array {
    const cached = this.bytesCache[id];
    if (cached !== undefined) return cached;
    const token = this.table.token(id);
    if (token === undefined)
      throw new TokenizerUsageError(`token id ${id} is not in the vocabulary (size ${this.vocabSize})`);
    const bytes = this.addedById.has(id)
      ? this.utf8.encode(token)
      : (byteLevelToBytes(token) ?? this.utf8.encode(token));
    this.bytesCache[id] = bytes;
    return bytes;
  }

  /** The vocabulary string of a token id (byte-level form for BPE tokens), or undefined. */
  idToToken(id: number): string | undefined {
    return this.table.token(id);
  }

  /** Id of an added token by content (e.g. "<|im_end|>") or of a BPE token by its byte-level string. */
  tokenToId(token: string): number | undefined {
    return this.addedTokens.find((t) => t.content === token)?.id ?? this.table.bpeId(token);
  }

  /** Id of an added token; throws when the vocabulary has none with that content. */
  addedTokenId(content: string): number {
    const t = this.addedTokens.find((a) => a.content === content);
    if (t === undefined)
      throw new TokenizerUsageError(`the vocabulary has no added token ${JSON.stringify(content)}`);
    return t.id;
  }

  /** True for added tokens (matched literally in template text). */
  isAddedToken(id: number): boolean {
    return this.addedById.has(id);
  }

  /** True for special added tokens. */
  isSpecialToken(id: number): boolean {
    return this.addedById.get(id)?.special === true;
  }

  /**
   * Ids of text that is already normalized, with no added-token matching: BPE of each pre-tokenizer piece.
   * Building block of IncrementalTokenizer; `encode(text, { specials: false })` is this after normalization.
   */
  encodeNormalizedPlain(normalized: string, out: number[] = []): number[] {
    for (const piece of splitPieces(normalized)) {
      for (const id of this.bpe.encodeWord(piece)) out.push(id);
    }
    return out;
  }

  /** BPE ids of one pre-tokenizer piece of normalized text (see splitPieces). */
  encodePiece(piece: string): readonly number[] {
    return this.bpe.encodeWord(piece);
  }

  /**
   * The smallest byte offset s < `until` such that bytes[s..] is the beginning of some BPE token of the
   * vocabulary, or `until` if there is none: no token that starts before the result can hold the end of
   * `bytes`, whatever follows it. (The sorted vocabulary is built on the first call.)
   */
  tokenPrefixStart(bytes: Uint8Array, until = bytes.length): number {
    if (this.sortedBpeTokens === undefined) {
      this.sortedBpeTokens = [...this.table.bpeTokens()].sort();
      for (const t of this.sortedBpeTokens) this.longestBpeToken = Math.max(this.longestBpeToken, t.length);
    }
    const sorted = this.sortedBpeTokens;
    const text = bytesToByteLevel(bytes); // one character per byte
    for (let s = Math.max(0, text.length - this.longestBpeToken); s < until; s++) {
      const suffix = text.slice(s);
      let lo = 0;
      let hi = sorted.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (sorted[mid]! < suffix) lo = mid + 1;
        else hi = mid;
      }
      if (lo < sorted.length && sorted[lo]!.startsWith(suffix)) return s;
    }
    return until;
  }

  /** encodePiece without caching the result (for pieces unlikely to recur). */
  encodePieceUncached(piece: string): readonly number[] {
    return this.bpe.encodeWordUncached(piece);
  }

  /**
   * Start an incremental encoder of streamed plain text (see IncrementalTokenizer): at most
   * `options.maxHeldChars` (default MAX_HELD_CHARS) characters are held back after any push.
   */
  createIncremental(options: IncrementalTokenizerOptions = {}): IncrementalTokenizer {
    return new IncrementalTokenizer(this, options);
  }

  private appendPlain(text: string, out: number[]): void {
    if (text.length > 0) this.encodeNormalizedPlain(normalizeText(text, this.normalizer), out);
  }
}
