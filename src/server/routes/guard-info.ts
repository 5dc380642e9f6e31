/**
 * What a client needs to know about the server before it asks anything, and the exact prompt Gen reads:
 *
 * - `GET /v1/guard/info`: the models loaded (name, synthetic weights, engine, context), whether they are synthetic
 *   (and the `--demo` toy models' trigger words), whether an upstream is configured, whether keys are required,
 *   the caller's tenant and the policies it may read (every tenant's on an open server, its own with keys) as
 *   editable YAML, and the request limits. No file path leaves the server.
 * - `POST /v1/guard/render` `{messages}`: the exact prompt Qwen3Guard-Gen reads for a conversation
 *   (`GenGuard.render`), as text and as template/content segments.
 */
import path from "node:path";
import type { FastifyInstance, FastifyRequest } from "fastify";
import { stringify } from "yaml";
import { z } from "zod";
import { joinSegments } from "../../core/segments.js";
import { policyDocument } from "../../core/policy/index.js";
import type { GuardInfo } from "../../guard/guard-info.js";
import { HttpError } from "../http-errors.js";
import { DEMO_LABEL, type ServerRuntime } from "../runtime.js";
import { checkContentChars, messagesSchema, parseOrThrow } from "../validate.js";
import { DECIDE_MAX_VERDICTS, heldByRule, POLICY_TEXT_MAX_CHARS } from "./guard-policy.js";

export const GUARD_INFO_ROUTE = "/v1/guard/info";
export const GUARD_RENDER_ROUTE = "/v1/guard/render";

function modelOf(info: GuardInfo) {
  return {
    name: info.model.name,
    source: info.model.source,
    ...(info.synthetic === undefined ? {} : { synthetic: info.synthetic }),
    engine: info.engine,
    device: info.device,
    contextSize: info.contextSize,
    sequences: info.sequences,
  };
}

/** What the server says about synthetic models, for every surface that shows verdicts. */
export function syntheticNotice(runtime: ServerRuntime): string | undefined {
  if (runtime.synthetic === undefined) return undefined;
  return runtime.config.demo
    ? DEMO_LABEL
    : `${runtime.synthetic} weights (a synthetic model): its verdicts mean nothing about safety`;
}

/** The policies a request may read: every tenant's on an open server, its own tenant's with API keys. */
function policies(runtime: ServerRuntime, request: FastifyRequest) {
  const tenants = runtime.auth.required ? [request.tenant] : runtime.tenants();
  return tenants.map((tenant) => {
    const policy = runtime.policyFor(tenant);
    return {
      tenant,
      builtin: runtime.hasBuiltinPolicy(tenant),
      ...(policy.name === undefined ? {} : { name: policy.name }),
      ...(policy.description === undefined ? {} : { description: policy.description }),
      mode: policy.mode,
      sources: policy.sources.map((s) => path.basename(s)),
      text: stringify(policyDocument(policy)),
      held: heldByRule(policy),
    };
  });
}

export function registerGuardInfoRoutes(app: FastifyInstance, runtime: ServerRuntime): void {
  const limits = runtime.config.limits;

  app.get(GUARD_INFO_ROUTE, async (request) => {
    const notice = syntheticNotice(runtime);
    const demo = runtime.demo;
    return {
      models: {
        gen: runtime.gen ? modelOf(runtime.gen.info) : null,
        stream: runtime.stream
          ? { ...modelOf(runtime.stream.info), labels: runtime.stream.info.labels }
          : null,
      },
      synthetic: runtime.synthetic ?? null,
      ...(notice === undefined ? {} : { notice }),
      ...(demo
        ? {
            demo: {
              genTrigger: demo.genTrigger,
              streamUnsafeWords: demo.streamUnsafeWords,
              streamControversialWords: demo.streamControversialWords,
              promptTriggerWords: demo.promptTriggerWords,
            },
          }
        : {}),
      upstream: { configured: runtime.upstream !== undefined },
      auth: { required: runtime.auth.required },
      tenant: request.tenant,
      policies: policies(runtime, request),
      limits: {
        messages: limits.messages,
        contentChars: limits.contentChars,
        bodyBytes: limits.bodyBytes,
        streamIdleSeconds: limits.streamIdleSeconds,
        policyChars: POLICY_TEXT_MAX_CHARS,
        decideVerdicts: DECIDE_MAX_VERDICTS,
      },
    };
  });

  const renderSchema = z.object({ messages: messagesSchema(limits.messages) }).strict();
  app.post(GUARD_RENDER_ROUTE, async (request) => {
    const body = parseOrThrow(renderSchema, request.body);
    checkContentChars(
      body.messages.map((m) => m.content),
      limits.contentChars,
      "messages",
    );
    if (runtime.gen === undefined) {
      throw new HttpError(400, "MODEL_NOT_LOADED", "the Gen model is not loaded on this server", {
        param: "model",
      });
    }
    // a conversation Gen cannot read is the client's error (400 INVALID_CONVERSATION), like on /v1/guard/moderate
    const prompt = runtime.gen.render(body.messages);
    return {
      model: "gen",
      direction: prompt.direction,
      text: joinSegments(prompt.segments),
      segments: prompt.segments,
    };
  });
}
