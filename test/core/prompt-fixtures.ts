/**
 * The reference Gen prompt fixtures, read from the reference set itself (shared/reference/fixtures beside the clone,
 * as CI lays it out), so the byte comparisons are against the official renderings, not a copy.
 */
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseChatMessages, type ChatMessage } from "../../src/core/messages.js";

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const FIXTURE_DIR = path.resolve(repoRoot, "../shared/reference/fixtures") + path.sep;
if (!existsSync(`${FIXTURE_DIR}messages.json`)) {
  throw new Error(
    `${FIXTURE_DIR} is missing: the prompt tests need shared/ beside the repository clone (../shared)`,
  );
}

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
