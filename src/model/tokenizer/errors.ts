/** Errors raised while loading or using a tokenizer. */

/** The tokenizer.json / vocabulary given is malformed or uses a feature this tokenizer does not implement. */
export class TokenizerFormatError extends Error {
  override readonly name = "TokenizerFormatError";
}

/** A call was made with an argument the tokenizer cannot handle (unknown token id, bad segment kind...). */
export class TokenizerUsageError extends Error {
  override readonly name = "TokenizerUsageError";
}
