/**
 * The exact Gen prompts the official chat template renders (data/fixtures, with the conversations in
 * messages.json): the renderer is compared with them byte for byte.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { parseChatMessages, type ChatMessage } from "../../src/core/messages.js";
import { dataFile } from "../helpers/repo-data.js";

export const FIXTURE_DIR = path.dirname(dataFile("fixtures", "messages.json")) + path.sep;

export const FIXTURE_NAMES = [
  "gen-prompt-moderation.txt",
  "gen-response-moderation.txt",
  "gen-multiturn-prompt-moderation.txt",
] as const;

export interface GenFixture {
  name: string;
  messages: ChatMessage[];
  /** The exact expected prompt bytes. */
  bytes: Buffer;
}

export function loadGenFixtures(): GenFixture[] {
  const all = JSON.parse(readFileSync(`${FIXTURE_DIR}messages.json`, "utf8")) as Record<string, unknown>;
  return FIXTURE_NAMES.map((name) => ({
    name,
    messages: parseChatMessages(all[name], name),
    bytes: readFileSync(`${FIXTURE_DIR}${name}`),
  }));
}
