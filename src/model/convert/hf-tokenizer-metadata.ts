/**
 * The `tokenizer.*` GGUF metadata of a Qwen3 model, built from the folder's tokenizer.json and
 * tokenizer_config.json (plus config.json for special-token ids the tokenizer config leaves unset), the way
 * llama.cpp's convert_hf_to_gguf.py does for byte-level BPE ("gpt2") vocabularies:
 * - tokens: the BPE vocabulary and added tokens by id, padded to the embedding rows with `[PAD{i}]`;
 * - token types: added tokens that are special or look like `<|…|>` are CONTROL (3), other added tokens
 *   (`<think>`, `<tool_call>`, …) USER_DEFINED (4), padding UNUSED (5), everything else NORMAL (1);
 * - merges as "left right" strings; bos/eos/padding ids; add_bos_token; the chat template.
 */
import fs from "node:fs";
import path from "node:path";
import { ConvertError } from "./convert-error.js";

export const TokenType = { NORMAL: 1, UNKNOWN: 2, CONTROL: 3, USER_DEFINED: 4, UNUSED: 5, BYTE: 6 } as const;

export interface HfTokenizerMetadata {
  tokens: string[];
  tokenTypes: number[];
  merges: string[];
  bosTokenId: number | undefined;
  eosTokenId: number | undefined;
  paddingTokenId: number | undefined;
  addBosToken: boolean | undefined;
  addEosToken: boolean | undefined;
  chatTemplate: string | undefined;
}

interface AddedToken {
  id: number;
  content: string;
  special?: boolean;
}

interface TokenizerJson {
  added_tokens?: AddedToken[];
  model?: { type?: string; vocab?: Record<string, number>; merges?: (string | [string, string])[] };
}

function readJson(file: string, what: string): Record<string, unknown> {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch {
    throw new ConvertError(`${file} is missing: the model folder needs ${what}`);
  }
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch (error) {
    throw new ConvertError(`${file} is not valid JSON (${(error as Error).message})`);
  }
}

/** llama.cpp's heuristic for added tokens that ought to be control tokens even when not marked special. */
function looksSpecial(token: string): boolean {
  return (
    (token.startsWith("<|") && token.endsWith("|>")) || (token.startsWith("<｜") && token.endsWith("｜>"))
  );
}

/** A special-token field of tokenizer_config.json: a string, an AddedToken-like object, or null. */
function tokenContent(value: unknown): string | undefined {
  if (typeof value === "string") return value;
  if (value && typeof value === "object" && typeof (value as { content?: unknown }).content === "string") {
    return (value as { content: string }).content;
  }
  return undefined;
}

/** The chat template: tokenizer_config.json `chat_template` (string, or a list of named templates), else a file. */
export function readChatTemplate(
  modelDir: string,
  tokenizerConfig: Record<string, unknown>,
): string | undefined {
  const t = tokenizerConfig.chat_template;
  if (typeof t === "string") return t;
  if (Array.isArray(t)) {
    const named = t as { name?: string; template?: string }[];
    const chosen = named.find((x) => x.name === "default") ?? named[0];
    if (typeof chosen?.template === "string") return chosen.template;
  }
  const jinja = path.join(modelDir, "chat_template.jinja");
  if (fs.existsSync(jinja)) return fs.readFileSync(jinja, "utf8");
  const json = path.join(modelDir, "chat_template.json");
  if (fs.existsSync(json)) {
    const v = readJson(json, "a chat template").chat_template;
    if (typeof v === "string") return v;
  }
  return undefined;
}

/** Build the tokenizer metadata for `vocabRows` embedding rows. */
export function readHfTokenizerMetadata(
  modelDir: string,
  vocabRows: number,
  config: Record<string, unknown> = {},
): HfTokenizerMetadata {
  const tokFile = path.join(modelDir, "tokenizer.json");
  const tok = readJson(tokFile, "tokenizer.json (the Hugging Face fast tokenizer)") as TokenizerJson;
  const tokConfig = readJson(path.join(modelDir, "tokenizer_config.json"), "tokenizer_config.json");
  const model = tok.model;
  if (!model || model.type !== "BPE" || !model.vocab || !Array.isArray(model.merges)) {
    throw new ConvertError(`${tokFile}: expected a BPE model with vocab and merges (a Qwen3 tokenizer)`);
  }

  const tokens: (string | undefined)[] = new Array(vocabRows);
  const types = new Array<number>(vocabRows).fill(TokenType.NORMAL);
  const place = (text: string, id: number): void => {
    if (!Number.isInteger(id) || id < 0)
      throw new ConvertError(`${tokFile}: token ${JSON.stringify(text)} has id ${id}`);
    if (id >= vocabRows) {
      throw new ConvertError(
        `${tokFile}: token id ${id} is beyond the model's ${vocabRows} embedding rows (tokenizer and weights do not match)`,
      );
    }
    tokens[id] = text;
  };
  for (const [text, id] of Object.entries(model.vocab)) place(text, id);
  for (const added of tok.added_tokens ?? []) {
    place(added.content, added.id);
    types[added.id] =
      added.special || looksSpecial(added.content) ? TokenType.CONTROL : TokenType.USER_DEFINED;
  }
  const filled = Array.from(tokens, (t, i) => {
    if (t !== undefined) return t;
    types[i] = TokenType.UNUSED;
    return `[PAD${i}]`;
  });

  const merges = model.merges.map((m, i) => {
    if (typeof m === "string") return m;
    if (Array.isArray(m) && m.length === 2 && !m[0].includes(" ") && !m[1].includes(" "))
      return `${m[0]} ${m[1]}`;
    throw new ConvertError(`${tokFile}: merge #${i} cannot be written as "left right": ${JSON.stringify(m)}`);
  });

  const idOf = (kind: "bos" | "eos" | "pad"): number | undefined => {
    const content = tokenContent(tokConfig[`${kind}_token`]);
    if (content !== undefined) {
      const id = tok.added_tokens?.find((a) => a.content === content)?.id ?? model.vocab![content];
      if (id !== undefined) return id;
    }
    const fromConfig = config[`${kind}_token_id`];
    return typeof fromConfig === "number" && Number.isInteger(fromConfig) ? fromConfig : undefined;
  };
  const bool = (v: unknown): boolean | undefined => (typeof v === "boolean" ? v : undefined);

  return {
    tokens: filled,
    tokenTypes: types,
    merges,
    bosTokenId: idOf("bos"),
    eosTokenId: idOf("eos"),
    paddingTokenId: idOf("pad"),
    addBosToken: bool(tokConfig.add_bos_token),
    addEosToken: bool(tokConfig.add_eos_token),
    chatTemplate: readChatTemplate(modelDir, tokConfig),
  };
}
