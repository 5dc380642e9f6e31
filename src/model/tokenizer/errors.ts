/** Errors raised while loading or using a tokenizer. */
import { Qwen3GuardError } from "../../core/errors.js";

/** The tokenizer.json / vocabulary given is malformed or uses a feature this tokenizer does not implement. */
export class TokenizerFormatError extends Qwen3GuardError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("TOKENIZER_INVALID", message, options);
  }
}

/** A call was made with an argument the tokenizer cannot handle (unknown token id, bad segment kind...). */
export class TokenizerUsageError extends Qwen3GuardError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("TOKENIZER_USAGE", message, options);
  }
}
