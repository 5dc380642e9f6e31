/** The Qwen tokenizer of a GGUF file, built from its `tokenizer.ggml.*` vocabulary. */
import { GgufFile } from "./gguf/gguf-reader.js";
import type { GgufValue } from "./gguf/gguf-value.js";
import { QwenTokenizer, TokenizerFormatError } from "./tokenizer/index.js";

function stringArray(file: string, key: string, value: GgufValue | undefined): string[] {
  if (value?.type !== "array" || value.itemType !== "string") {
    throw new TokenizerFormatError(`${file}: ${key} is missing or not an array of strings`);
  }
  return value.value as string[];
}

export function tokenizerFromGguf(file: string): QwenTokenizer {
  const gguf = GgufFile.open(file);
  try {
    const model = gguf.metadata.get("tokenizer.ggml.model");
    if (model?.type !== "string" || model.value !== "gpt2") {
      throw new TokenizerFormatError(
        `${file}: tokenizer.ggml.model is ${model?.type === "string" ? model.value : "missing"}; ` +
          `Qwen3 models use byte-level BPE ("gpt2")`,
      );
    }
    const tokens = stringArray(file, "tokenizer.ggml.tokens", gguf.metadata.get("tokenizer.ggml.tokens"));
    const merges = stringArray(file, "tokenizer.ggml.merges", gguf.metadata.get("tokenizer.ggml.merges"));
    const types = gguf.metadata.get("tokenizer.ggml.token_type");
    const tokenTypes = types?.type === "array" ? (types.value as number[]).map(Number) : undefined;
    return QwenTokenizer.fromVocabulary({ tokens, merges, tokenTypes });
  } finally {
    gguf.close();
  }
}
