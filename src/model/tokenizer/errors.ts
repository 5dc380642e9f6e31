/** Errors raised while loading or using a tokenizer. */
import { Qwen3GuardError } from "../../core/errors.js";

/**
 * A model's tokenizer.json (or a GGUF's vocabulary) is malformed or is not a Qwen byte-level BPE tokenizer.
 * Code `TOKENIZER_INVALID`.
 *
 * @example
 * ```ts
 * import { GenGuard, TokenizerFormatError } from "qwen3guard";
 *
 * try {
 *   await (await GenGuard.load({ model: "/models/not-a-qwen-vocabulary.gguf" })).close();
 * } catch (error) {
 *   if (error instanceof TokenizerFormatError) console.error("not a Qwen3 tokenizer:", error.message);
 *   else throw error;
 * }
 * ```
 */
export class TokenizerFormatError extends Qwen3GuardError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("TOKENIZER_INVALID", message, options);
  }
}

/**
 * The tokenizer got an argument it cannot handle (an unknown token id, a bad segment kind): a caller's bug. Code
 * `TOKENIZER_USAGE`.
 *
 * @example
 * ```ts
 * import { TokenizerUsageError } from "qwen3guard";
 *
 * const error = new TokenizerUsageError("token id 999999 is not in the vocabulary (size 151936)");
 * console.log(error.code, error instanceof TokenizerUsageError); // TOKENIZER_USAGE true
 * ```
 */
export class TokenizerUsageError extends Qwen3GuardError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("TOKENIZER_USAGE", message, options);
  }
}
