/** A Hugging Face model folder that cannot be converted; the message says what is wrong and what to do. */
export class ConvertError extends Error {
  override readonly name = "ConvertError";
}
