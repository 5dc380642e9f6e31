/**
 * Request validation for the guard endpoints: zod schemas whose errors become a 400 naming the field
 * (`param` in the error body, and the message starts with it), and the size limits of `config.limits`.
 */
import { z } from "zod";
import { CHAT_ROLES } from "../core/messages.js";
import { HttpError } from "./http-errors.js";

/** `input[2].text`, `items[0].messages[3].role`. */
export function fieldPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const p of path) {
    if (typeof p === "number") out += `[${p}]`;
    else out += out === "" ? String(p) : `.${String(p)}`;
  }
  return out || "(body)";
}

/**
 * Parse a request body (or a WebSocket message) with `schema`.
 * @throws HttpError 400 BAD_REQUEST whose message and `param` name the first bad field.
 */
export function parseOrThrow<T>(
  schema: z.ZodType<T>,
  value: unknown,
  prefix: readonly PropertyKey[] = [],
): T {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  const param = fieldPath([...prefix, ...issue.path]);
  const detail =
    issue.code === "unrecognized_keys" ? `unknown field(s) ${issue.keys.join(", ")}` : issue.message;
  // the same code as the proxy for the same limit
  const code =
    issue.code === "too_big" && issue.path[issue.path.length - 1] === "messages"
      ? "TOO_MANY_MESSAGES"
      : "BAD_REQUEST";
  throw new HttpError(400, code, `${param}: ${detail}`, { param });
}

/** A chat message as the endpoints take it. */
export const messageSchema = z
  .object({
    role: z.enum(CHAT_ROLES, { error: `expected a role: ${CHAT_ROLES.join(", ")}` }),
    content: z.string({ error: "expected a string" }),
  })
  .strict();

/** A conversation of at most `limits.messages` messages. */
export function messagesSchema(maxMessages: number) {
  return z
    .array(messageSchema, { error: "expected an array of {role, content} messages" })
    .min(1, { error: "a conversation needs at least one message" })
    .max(maxMessages, { error: `at most ${maxMessages} messages (limits.messages)` });
}

/**
 * The characters of a request's texts together must stay within `limits.contentChars`.
 * @throws HttpError 400 naming `field`.
 */
export function checkContentChars(texts: Iterable<string>, max: number, field: string): void {
  let total = 0;
  for (const t of texts) total += t.length;
  if (total > max) {
    throw new HttpError(
      400,
      "CONTENT_TOO_LONG",
      `${field}: ${total} characters of text in one request; the limit is ${max} (limits.contentChars)`,
      { param: field },
    );
  }
}
