/**
 * `POST /v1/chat/completions`: the OpenAI-compatible moderating proxy (src/server/proxy/). Its JSON body parser
 * refuses what JSON forbids and Node would silently repair: a body that is not valid UTF-8.
 */
import type { FastifyInstance, FastifyRequest } from "fastify";
import { HttpError } from "../http-errors.js";
import { parseChatRequest } from "../proxy/chat-request.js";
import { proxyChat } from "../proxy/chat-proxy.js";
import type { ServerRuntime } from "../runtime.js";

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false });

/** JSON (RFC 8259: UTF-8) into a value; a `__proto__` key is dropped. */
export function parseJsonBody(_request: FastifyRequest, body: Buffer): unknown {
  let text: string;
  try {
    text = utf8.decode(body);
  } catch {
    throw new HttpError(400, "INVALID_JSON", "the body is not valid UTF-8 (JSON must be UTF-8)");
  }
  if (text.trim().length === 0) throw new HttpError(400, "INVALID_JSON", "the body is empty: expected JSON");
  try {
    return JSON.parse(text, (key, value: unknown) => (key === "__proto__" ? undefined : value));
  } catch (error) {
    throw new HttpError(400, "INVALID_JSON", `the body is not valid JSON: ${(error as Error).message}`);
  }
}

export function registerChatCompletionsRoute(app: FastifyInstance, runtime: ServerRuntime): void {
  void app.register(async (scope) => {
    scope.removeContentTypeParser("application/json");
    scope.addContentTypeParser(
      "application/json",
      { parseAs: "buffer" },
      async (request: FastifyRequest, body: Buffer) => parseJsonBody(request, body),
    );
    scope.post("/v1/chat/completions", async (request, reply) => {
      const chat = parseChatRequest(request.body, runtime.config.limits);
      await proxyChat(runtime, request, reply, chat);
      return reply;
    });
  });
}
