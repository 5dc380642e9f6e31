/** A Hugging Face model folder that cannot be converted; the message says what is wrong and what to do. */
import { Qwen3GuardError } from "../../core/errors.js";
export class ConvertError extends Qwen3GuardError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("CONVERT_FAILED", message, options);
  }
}
