/** A Hugging Face model folder that cannot be converted; the message says what is wrong and what to do. */
import { Qwen3GuardError } from "../../core/errors.js";

/**
 * A Hugging Face model folder cannot be converted to GGUF (missing or misshapen tensors, a tokenizer.json that is
 * not Qwen3's); the message says what is wrong and what to do. Code `CONVERT_FAILED`.
 *
 * @example
 * ```ts
 * import fs from "node:fs";
 * import { ConvertError, GenGuard } from "qwen3guard";
 * import { writeCraftedGenModel } from "qwen3guard/testing";
 *
 * const { dir } = writeCraftedGenModel("/tmp/gen-bad-tokenizer");
 * fs.writeFileSync(`${dir}/tokenizer.json`, "{}"); // not a BPE tokenizer
 * try {
 *   await GenGuard.load({ model: dir });
 * } catch (error) {
 *   if (error instanceof ConvertError) console.log(error.code, error.message); // CONVERT_FAILED .../tokenizer.json: expected a BPE model ...
 * }
 * ```
 */
export class ConvertError extends Qwen3GuardError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("CONVERT_FAILED", message, options);
  }
}
