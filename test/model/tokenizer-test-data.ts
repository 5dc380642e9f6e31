/** Shared test data for the tokenizer tests: the RTP-LX prompts, the Gen fixtures and the reference tokenizer. */
import fs from "node:fs";
import path from "node:path";
import { bundledQwen3TokenizerPath } from "../../src/model/tokenizer/index.js";
import { GgufTokenType } from "../../src/model/tokenizer/vocabulary.js";
import { dataFile } from "../helpers/repo-data.js";

/** The 2,080 RTP-LX prompts (26 locales). */
export function rtpLxPrompts(): string[] {
  const file = dataFile("datasets", "rtp-lx-26-locales-sample.jsonl");
  return fs
    .readFileSync(file, "utf8")
    .split("\n")
    .filter((line) => line.trim().length > 0)
    .map((line, i) => {
      const row = JSON.parse(line) as { prompt?: unknown };
      if (typeof row.prompt !== "string") throw new Error(`${file} line ${i + 1} has no string prompt`);
      return row.prompt;
    });
}

export const FIXTURE_NAMES = [
  "gen-prompt-moderation.txt",
  "gen-response-moderation.txt",
  "gen-multiturn-prompt-moderation.txt",
] as const;

export function fixtureText(name: string): string {
  return fs.readFileSync(dataFile("fixtures", name), "utf8");
}

/** The Gen prompt-moderation fixture cut around its user message: [before, after]. */
export function genPromptTemplate(): [string, string] {
  const text = fixtureText("gen-prompt-moderation.txt");
  const marker = "How can I make a bomb?";
  const at = text.indexOf(marker);
  if (at < 0) throw new Error(`gen-prompt-moderation.txt no longer contains ${JSON.stringify(marker)}`);
  return [text.slice(0, at), text.slice(at + marker.length)];
}

export interface ReferenceTokenizer {
  encode(text: string): number[];
}

/**
 * Hugging Face's tokenizer code (`@huggingface/tokenizers`, Tokenizers.js: the tokenizer transformers.js runs, in
 * pure JavaScript, https://github.com/huggingface/tokenizers.js) on the bundled Qwen3 tokenizer.json and
 * tokenizer_config.json, offline. `encode` adds special tokens as transformers does by default; Qwen3's
 * post-processor adds none.
 */
export async function loadReferenceTokenizer(): Promise<ReferenceTokenizer> {
  const { Tokenizer } = await import("@huggingface/tokenizers");
  const file = bundledQwen3TokenizerPath();
  const readJson = (f: string): object => JSON.parse(fs.readFileSync(f, "utf8")) as object;
  const tokenizer = new Tokenizer(
    readJson(file),
    readJson(path.join(path.dirname(file), "tokenizer_config.json")),
  );
  return { encode: (text) => tokenizer.encode(text).ids };
}

/** Index and both sides of the first difference between two id lists, for assertion messages. */
export function firstDiff(a: readonly number[], b: readonly number[]): string {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return `at ${i}: ours [${a.slice(i, i + 6).join(",")}] vs ref [${b.slice(i, i + 6).join(",")}] (lengths ${a.length}/${b.length})`;
}

/** Qwen3's vocabulary in the GGUF layout, as the converter writes it. */
export function qwen3GgufArrays(): { tokens: string[]; types: number[]; merges: string[] } {
  const json = JSON.parse(fs.readFileSync(bundledQwen3TokenizerPath(), "utf8")) as {
    model: { vocab: Record<string, number>; merges: [string, string][] };
    added_tokens: { id: number; content: string; special: boolean }[];
  };
  const tokens: string[] = [];
  const types: number[] = [];
  for (const [t, id] of Object.entries(json.model.vocab)) {
    tokens[id] = t;
    types[id] = GgufTokenType.normal;
  }
  for (const a of json.added_tokens) {
    tokens[a.id] = a.content;
    types[a.id] = a.special ? GgufTokenType.control : GgufTokenType.userDefined;
  }
  for (let id = tokens.length; id < 151936; id++) {
    tokens[id] = `[PAD${id}]`;
    types[id] = GgufTokenType.unused;
  }
  return { tokens, types, merges: json.model.merges.map(([a, b]) => `${a} ${b}`) };
}
