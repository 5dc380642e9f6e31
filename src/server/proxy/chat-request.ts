/**
 * A `POST /v1/chat/completions` request: validated loosely (only what the proxy reads; everything else passes on
 * untouched), checked against the configured limits, and mapped to the conversation the guard reads.
 *
 * What the guard reads (docs/server.md, "What is moderated"): the text of every message (string content, or the
 * `text` of text parts; images, audio and files are not read), tool-call names and arguments of earlier assistant
 * turns, tool results (as user turns: the guard models know system, user and assistant). System and developer
 * messages become one leading system message. Assistant messages after the last user turn are the answer's
 * prefill: judged as the start of the answer.
 */
import { z } from "zod";
import type { ChatMessage } from "../../core/messages.js";
import { guardConversation } from "../../guard/guard-conversation.js";
import type { ServerConfig } from "../config.js";
import { HttpError } from "../http-errors.js";

const part = z.looseObject({ type: z.string(), text: z.string().optional() });

const messageSchema = z.looseObject({
  role: z.string(),
  content: z.union([z.string(), z.array(part), z.null()]).optional(),
  tool_calls: z
    .array(
      z.looseObject({
        function: z.looseObject({ name: z.string().optional(), arguments: z.string().optional() }).optional(),
      }),
    )
    .nullable()
    .optional(),
});

const requestSchema = z.looseObject({
  model: z.string().optional(),
  messages: z.array(messageSchema).min(1, "expected at least one message"),
  stream: z.boolean().nullable().optional(),
  stream_options: z.looseObject({ include_usage: z.boolean().nullable().optional() }).nullable().optional(),
  n: z.number().int().nullable().optional(),
});

/** The request as the proxy reads it; `body` is the request as the client sent it (passed on untouched). */
export interface ChatRequest {
  body: Record<string, unknown>;
  model: string;
  stream: boolean;
  includeUsage: boolean;
  /** The conversation up to and including the last user turn, as the guard reads it. */
  conversation: ChatMessage[];
  /** Assistant text after the last user turn (a prefill the answer continues), or "". */
  prefill: string;
  /** The messages as sent, and the index of the first prefill message (messages.length when none). */
  messages: Record<string, unknown>[];
  prefillFrom: number;
}

const ROLE: Record<string, ChatMessage["role"] | "tool"> = {
  system: "system",
  developer: "system",
  user: "user",
  assistant: "assistant",
  tool: "tool",
  function: "tool",
};

/** The text of a message's content the guard reads. */
export function contentText(content: unknown): string {
  if (typeof content === "string") return content;
  if (!Array.isArray(content)) return "";
  return content
    .filter(
      (p: { type?: unknown; text?: unknown }) => typeof p.text === "string" && /text/.test(String(p.type)),
    )
    .map((p: { text: string }) => p.text)
    .join("\n");
}

function assistantText(message: z.infer<typeof messageSchema>): string {
  const calls = (message.tool_calls ?? [])
    .map((c) => (c.function ? `${c.function.name ?? ""}(${c.function.arguments ?? ""})` : ""))
    .filter((s) => s.length > 0);
  return [contentText(message.content), ...calls].filter((s) => s.length > 0).join("\n");
}

/**
 * Validate and map a request body.
 * @throws HttpError 400 naming the field, or the limit exceeded.
 */
export function parseChatRequest(body: unknown, limits: ServerConfig["limits"]): ChatRequest {
  if (body === null || typeof body !== "object" || Array.isArray(body)) {
    throw new HttpError(400, "BAD_REQUEST", "the body must be a JSON object (a chat completion request)");
  }
  const raw = body as Record<string, unknown>;
  if (Array.isArray(raw.messages) && raw.messages.length > limits.messages) {
    throw new HttpError(
      400,
      "TOO_MANY_MESSAGES",
      `${raw.messages.length} messages: at most ${limits.messages} per request (limits.messages)`,
      { param: "messages" },
    );
  }
  const parsed = requestSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const param = issue.path.map(String).join(".") || null;
    throw new HttpError(400, "BAD_REQUEST", `${param ?? "body"}: ${issue.message}`, { param });
  }
  const request = parsed.data;
  if (request.n !== undefined && request.n !== null && request.n !== 1) {
    throw new HttpError(400, "BAD_REQUEST", "n: the moderating proxy serves one choice per request (n = 1)", {
      param: "n",
    });
  }
  let chars = 0;
  const mapped: ChatMessage[] = [];
  request.messages.forEach((m, i) => {
    const role = ROLE[m.role];
    if (role === undefined) {
      throw new HttpError(
        400,
        "BAD_REQUEST",
        `messages.${i}.role: unknown role ${JSON.stringify(m.role)} (expected system, developer, user, assistant or tool)`,
        { param: `messages.${i}.role` },
      );
    }
    const text = role === "assistant" ? assistantText(m) : contentText(m.content);
    chars += text.length;
    mapped.push({ role: role === "tool" ? "user" : role, content: text });
  });
  if (chars > limits.contentChars) {
    throw new HttpError(
      400,
      "CONTENT_TOO_LONG",
      `the messages hold ${chars} characters: at most ${limits.contentChars} per request (limits.contentChars)`,
      { param: "messages" },
    );
  }
  const lastUser = mapped.findLastIndex((m) => m.role === "user");
  if (lastUser < 0) {
    throw new HttpError(
      400,
      "BAD_REQUEST",
      "messages: the conversation has no user (or tool) message to answer",
      {
        param: "messages",
      },
    );
  }
  const { conversation, prefill, prefillFrom } = guardConversation(mapped);
  return {
    body: raw,
    model: request.model ?? "unknown",
    stream: request.stream === true,
    includeUsage: request.stream === true && request.stream_options?.include_usage === true,
    conversation,
    prefill,
    messages: raw.messages as Record<string, unknown>[],
    prefillFrom,
  };
}

/**
 * The request that asks the upstream to continue a rolled-back answer: the original request, with the safety
 * instruction added to the leading system message (or as one), the client's prefill messages replaced by one
 * assistant message holding the answer so far, and — for servers that need it to continue that message instead of
 * starting a new one (vLLM, SGLang) — `continue_final_message: true, add_generation_prompt: false`.
 */
export function continuationRequest(
  request: ChatRequest,
  answerSoFar: string,
  regenerate: ServerConfig["regenerate"],
): Record<string, unknown> {
  const messages = request.messages.slice(0, request.prefillFrom).map((m) => ({ ...m }));
  const first = messages[0];
  if (first && (first.role === "system" || first.role === "developer") && typeof first.content === "string") {
    first.content = `${first.content}\n\n${regenerate.instruction}`;
  } else if (
    first &&
    (first.role === "system" || first.role === "developer") &&
    Array.isArray(first.content)
  ) {
    first.content = [...(first.content as unknown[]), { type: "text", text: regenerate.instruction }];
  } else {
    messages.unshift({ role: "system", content: regenerate.instruction });
  }
  if (answerSoFar.length > 0) messages.push({ role: "assistant", content: answerSoFar });
  return {
    ...request.body,
    messages,
    ...(regenerate.continueFinalMessage && answerSoFar.length > 0
      ? { continue_final_message: true, add_generation_prompt: false }
      : {}),
  };
}
