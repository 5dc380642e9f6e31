/**
 * The HTTP server: Fastify 5 with pino logs (request ids), the error contract of http-errors.ts, API-key auth on
 * /v1/*, metrics per route, and the route modules. Nothing here loads models: it serves a ServerRuntime.
 */
import { randomUUID } from "node:crypto";
import fastifyWebsocket from "@fastify/websocket";
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from "fastify";
import type { LoggerOptions } from "pino";
import { errorBody, HttpError, toHttpError } from "./http-errors.js";
import { selectWebSocketProtocol } from "./auth.js";
import { registerGuardInfoRoutes } from "./routes/guard-info.js";
import { registerGuardModerateRoute } from "./routes/guard-moderate.js";
import { registerGuardPolicyRoutes } from "./routes/guard-policy.js";
import { registerGuardStreamRoute } from "./routes/guard-stream.js";
import { parseJsonBody, registerChatCompletionsRoute } from "./routes/chat-completions.js";
import { registerEngineApiRoutes } from "./routes/engine-api.js";
import { registerHealthRoutes } from "./routes/health.js";
import { registerModerationRoutes } from "./routes/moderations.js";
import { registerPlaygroundRoutes } from "./routes/playground.js";
import { DEMO_LABEL, type ServerRuntime } from "./runtime.js";

declare module "fastify" {
  interface FastifyRequest {
    /** The tenant the request's API key authenticates (set on /v1/* routes). */
    tenant: string;
  }
}

export interface CreateServerOptions {
  /** pino options (default: JSON lines at the configuration's level), or false for no logs. */
  logger?: LoggerOptions | false;
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** Build the server for a runtime (call `listen` on the result). */
export async function createServer(
  runtime: ServerRuntime,
  options: CreateServerOptions = {},
): Promise<FastifyInstance> {
  const config = runtime.config;
  const logger: LoggerOptions | false =
    options.logger === undefined
      ? {
          level: config.logLevel,
          ...(runtime.synthetic
            ? {
                base: {
                  synthetic: runtime.config.demo
                    ? DEMO_LABEL
                    : `${runtime.synthetic} weights: verdicts mean nothing about safety`,
                },
              }
            : {}),
        }
      : options.logger;
  const app = Fastify({
    logger,
    bodyLimit: config.limits.bodyBytes,
    requestTimeout: config.limits.requestTimeoutMs,
    // keep a client-supplied request id when it is sane, else make one
    genReqId: (req) => {
      const given = req.headers["x-request-id"];
      return typeof given === "string" && REQUEST_ID.test(given) ? given : randomUUID();
    },
    return503OnClosing: true,
  });
  app.decorateRequest("tenant", "");

  // JSON must be UTF-8 (RFC 8259): invalid bytes are refused, not silently replaced by U+FFFD before moderation;
  // a __proto__ key is dropped (the proxy's parser, for every route)
  app.removeContentTypeParser("application/json");
  app.addContentTypeParser(
    "application/json",
    { parseAs: "buffer" },
    async (request: FastifyRequest, body: Buffer) => parseJsonBody(request, body),
  );

  // WebSocket routes (/v1/guard/stream); messages bounded like bodies. Open sessions are not cut at close: the
  // drain (runtime.drain, started here if nobody did) ends them with a final frame within the grace period.
  await app.register(fastifyWebsocket, {
    // a browser's key comes as a subprotocol (auth.ts): the handshake selects the plain "qwen3guard" one
    options: { maxPayload: config.limits.bodyBytes, handleProtocols: selectWebSocketProtocol },
    preClose: (done) => {
      void runtime.drain(config.limits.shutdownGraceSeconds);
      done();
    },
  });

  app.addHook("onRequest", async (request, reply) => {
    reply.header("x-request-id", request.id);
    if (runtime.synthetic)
      reply.header("x-qwen3guard-synthetic", runtime.config.demo ? "demo toy models" : runtime.synthetic);
    if (request.url.startsWith("/v1/")) request.tenant = runtime.auth.tenantOf(request.headers);
  });
  app.addHook("onResponse", async (request, reply) => {
    const route = request.routeOptions.url ?? "unknown";
    runtime.metrics.requests.inc({ route, status: String(reply.statusCode) });
    runtime.metrics.requestSeconds.observe({ route }, reply.elapsedTime / 1000);
  });

  app.setErrorHandler((error, request, reply) => sendError(error, request, reply));
  app.setNotFoundHandler((request, reply) =>
    sendError(
      new HttpError(404, "NOT_FOUND", `no route ${request.method} ${request.url.split("?")[0]}`),
      request,
      reply,
    ),
  );

  registerHealthRoutes(app, runtime);
  registerModerationRoutes(app, runtime);
  registerGuardModerateRoute(app, runtime);
  registerGuardStreamRoute(app, runtime);
  registerChatCompletionsRoute(app, runtime);
  registerEngineApiRoutes(app, runtime);
  registerGuardInfoRoutes(app, runtime);
  registerGuardPolicyRoutes(app, runtime);
  registerPlaygroundRoutes(app, runtime);
  return app;
}

/** Send an error with the OpenAI-style body (or end a stream already started). */
export function sendError(error: unknown, request: FastifyRequest, reply: FastifyReply): void {
  const http = toHttpError(error);
  if (http.statusCode >= 500) request.log.error({ err: error }, http.message);
  else request.log.info({ code: http.code }, http.message);
  if (reply.sent || reply.raw.headersSent) {
    // a streaming response is already under way: the route's own stream handling ends it
    if (!reply.raw.writableEnded) reply.raw.end();
    return;
  }
  if (http.details.retryAfterSeconds !== undefined)
    reply.header("retry-after", String(http.details.retryAfterSeconds));
  void reply.status(http.statusCode).send(errorBody(http));
}
