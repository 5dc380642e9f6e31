/** Shared access to the reference Gen prompt fixtures (copied from the reference set into test/core/prompt-fixtures). */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parseChatMessages, type ChatMessage } from "../../src/core/messages.js";

export const FIXTURE_DIR = fileURLToPath(new URL("./prompt-fixtures/", import.meta.url));

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
