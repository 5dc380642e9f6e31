/** Public surface of the Qwen2/Qwen3 byte-level BPE tokenizer. */
export { QwenTokenizer, type EncodeOptions, type DecodeOptions } from "./qwen-tokenizer.js";
export type { SegmentEncoding, SegmentTokens } from "./segment-encoder.js";
export { GgufTokenType, type AddedToken, type MergeEntry, type RawVocabulary } from "./vocabulary.js";
export type { NormalizerKind } from "./normalizer.js";
export { TokenizerFormatError, TokenizerUsageError } from "./errors.js";
export { loadBundledQwen3Tokenizer, bundledQwen3TokenizerPath } from "./bundled.js";
export { QWEN2_SPLIT_PATTERN } from "./pre-tokenizer.js";
export {
  IncrementalTokenizer,
  MAX_HELD_CHARS,
  MIN_MAX_HELD_CHARS,
  STABLE_MARGIN_BYTES,
  STABLE_MARGIN_TOKENS,
  type IncrementalTokenizerOptions,
} from "./incremental-tokenizer.js";
