/**
 * Conversations as the command line reads them, from a `--messages` file or a line of a `--batch`: the same three
 * forms everywhere —
 *   [{"role": "user", "content": "…"}, …]                      a bare array of messages
 *   {"messages": [...], "id": …}                               an object holding them (other keys are ignored)
 *   {"prompt": "…", "response": "…", "id": …}                 one prompt, optionally its response
 * A problem names the field, e.g. `field "messages[1].role": expected "system", "user" or "assistant", got "robot"`.
 */
import { readFile } from "node:fs/promises";
import { CHAT_ROLES, InvalidConversationError, type ChatMessage } from "../core/messages.js";
import { CliInputError } from "./errors.js";

export interface ConversationInput {
  id?: unknown;
  messages: ChatMessage[];
}

/** Help text of every `--messages` option. */
export const MESSAGES_HELP =
  'conversation JSON: an array of {"role", "content"} messages, {"messages": [...]}, or {"prompt", "response"?} ("-" reads stdin)';

const FORMS = 'an array of messages, {"messages": [...]}, or {"prompt": "...", "response"?: "..."}';

function describe(value: unknown): string {
  if (value === undefined) return "nothing";
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "object") return "an object";
  if (typeof value === "string") return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  return `${typeof value} ${String(value)}`;
}

function fieldError(field: string, expected: string, got: unknown): InvalidConversationError {
  return new InvalidConversationError(`field "${field}": expected ${expected}, got ${describe(got)}`);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Check an array of messages; `base` is the field path of the array ("" for a bare array). */
function messagesAt(value: unknown, base: string): ChatMessage[] {
  const field = base === "" ? "(the array)" : base;
  if (!Array.isArray(value)) throw fieldError(field, 'an array of {"role", "content"} messages', value);
  if (value.length === 0) {
    throw new InvalidConversationError(`field "${field}": expected at least one message, got an empty array`);
  }
  return value.map((message: unknown, i): ChatMessage => {
    const at = `${base}[${i}]`;
    if (!isObject(message)) throw fieldError(at, 'an object {"role": …, "content": …}', message);
    const role = message.role;
    if (typeof role !== "string" || !(CHAT_ROLES as readonly string[]).includes(role)) {
      throw fieldError(`${at}.role`, '"system", "user" or "assistant"', role);
    }
    if (typeof message.content !== "string") throw fieldError(`${at}.content`, "a string", message.content);
    return { role: role as ChatMessage["role"], content: message.content };
  });
}

/** Validate parsed JSON in any of the three forms. Throws InvalidConversationError naming the field. */
export function parseConversation(json: unknown): ConversationInput {
  if (Array.isArray(json)) return { messages: messagesAt(json, "") };
  if (isObject(json) && "messages" in json) {
    const messages = messagesAt(json.messages, "messages");
    return json.id === undefined ? { messages } : { id: json.id, messages };
  }
  if (isObject(json) && "prompt" in json) {
    if (typeof json.prompt !== "string") throw fieldError("prompt", "a string", json.prompt);
    if (json.response !== undefined && typeof json.response !== "string") {
      throw fieldError("response", "a string", json.response);
    }
    const messages: ChatMessage[] = [{ role: "user", content: json.prompt }];
    if (typeof json.response === "string") messages.push({ role: "assistant", content: json.response });
    return json.id === undefined ? { messages } : { id: json.id, messages };
  }
  throw new InvalidConversationError(`expected ${FORMS}, got ${describe(json)}`);
}

/** Parse one line of JSON text (a batch line); errors carry no location, the caller adds it. */
export function parseConversationText(text: string): ConversationInput {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new CliInputError(`not valid JSON (${(error as Error).message})`);
  }
  return parseConversation(json);
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

/** How a `--messages` argument is named in messages. */
export function inputName(file: string): string {
  return file === "-" ? "<stdin>" : file;
}

/** Prefix an error about a conversation with where it came from (a file, `line 3`), keeping its class. */
export function locate(error: unknown, where: string): unknown {
  if (error instanceof InvalidConversationError) {
    return new InvalidConversationError(`${where}: ${error.message}`, { cause: error });
  }
  if (error instanceof CliInputError)
    return new CliInputError(`${where}: ${error.message}`, { cause: error });
  return error;
}

/** Read a `--messages` file ('-' for stdin) in any of the three forms; errors name the file. */
export async function readConversationFile(file: string): Promise<ConversationInput> {
  const name = inputName(file);
  let text: string;
  try {
    text = file === "-" ? await readStdin() : await readFile(file, "utf8");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why = code === "ENOENT" ? "no such file" : code === "EISDIR" ? "is a folder" : String(error);
    throw new CliInputError(`${name}: cannot read the messages file (${why})`, { cause: error });
  }
  try {
    return parseConversationText(text);
  } catch (error) {
    throw locate(error, name);
  }
}

/** Read a `--messages` file and return its messages. */
export async function readMessagesFile(file: string): Promise<ChatMessage[]> {
  return (await readConversationFile(file)).messages;
}
