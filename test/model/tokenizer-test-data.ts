/** Shared test data for the tokenizer tests: the RTP-LX prompts, the Gen fixtures, and HF's reference tokenizer. */
import fs from "node:fs";
import path from "node:path";
import { bundledQwen3TokenizerPath } from "../../src/model/tokenizer/index.js";
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

/** Hugging Face transformers.js' tokenizer for the bundled Qwen3 tokenizer.json, loaded offline. */
export async function loadReferenceTokenizer(): Promise<ReferenceTokenizer> {
  const { env, AutoTokenizer } = await import("@huggingface/transformers");
  const dir = path.dirname(bundledQwen3TokenizerPath());
  env.allowRemoteModels = false;
  env.allowLocalModels = true;
  env.localModelPath = path.dirname(dir);
  const tokenizer = await AutoTokenizer.from_pretrained(path.basename(dir));
  return { encode: (text) => tokenizer.encode(text) };
}

/** Index and both sides of the first difference between two id lists, for assertion messages. */
export function firstDiff(a: readonly number[], b: readonly number[]): string {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return `at ${i}: ours [${a.slice(i, i + 6).join(",")}] vs ref [${b.slice(i, i + 6).join(",")}] (lengths ${a.length}/${b.length})`;
}
