/**
 * `POST /v1/guard/moderate`: the native endpoint. A prompt, a prompt and its answer, or a conversation — one, or a
 * batch under `items` — moderated by Gen or Stream (`model`, default: Gen when loaded), with the tenant's policy
 * applied to each. Answers the library's own verdict objects and the policy decision with its reasons.
 */
import { randomUUID } from "node:crypto";
import type { FastifyInstance } from "fastify";
import { z } from "zod";
import type { ChatMessage } from "../../core/messages.js";
import { guardFailure, recordDecisions, requestSignal, decideFor, type Judgement } from "../decisions.js";
import { HttpError } from "../http-errors.js";
import { DEMO_LABEL, type ServerRuntime } from "../runtime.js";
import { checkContentChars, messagesSchema, parseOrThrow } from "../validate.js";

export const GUARD_MODERATE_ROUTE = "/v1/guard/moderate";

const text = z.string({ error: "expected a string" });

function itemFields(maxMessages: number) {
  return {
    /** Echoed in the result (to match a batch's results to its items). */
    id: z.union([z.string().max(256), z.number()], { error: "expected a string or a number" }).optional(),
    prompt: text.optional(),
    response: text.optional(),
    messages: messagesSchema(maxMessages).optional(),
  };
}

type Item = { id?: string | number; prompt?: string; response?: string; messages?: ChatMessage[] };

/** An item must say what to moderate: `prompt` (with an optional `response`), or `messages`. */
function checkItem(item: Item, ctx: z.RefinementCtx, path: (string | number)[]): void {
  if (item.messages !== undefined && (item.prompt !== undefined || item.response !== undefined)) {
    ctx.addIssue({
      code: "custom",
      path: [...path, "messages"],
      message: "give either messages, or prompt (and response), not both",
    });
  } else if (item.messages === undefined && item.prompt === undefined) {
    ctx.addIssue({
      code: "custom",
      path: [...path, item.response === undefined ? "prompt" : "prompt"],
      message:
        item.response === undefined
          ? "expected prompt (a string), prompt and response, or messages"
          : "a response needs the prompt it answers",
    });
  }
}

function bodySchema(maxMessages: number, maxItems: number) {
  const fields = itemFields(maxMessages);
  const item = z
    .object(fields)
    .strict()
    .superRefine((v, ctx) => checkItem(v, ctx, []));
  return z
    .object({
      model: z.enum(["gen", "stream"], { error: 'expected "gen" or "stream"' }).optional(),
      /** Stream only: the pair rule of the stop (default "official"). */
      rule: z.enum(["official", "report"], { error: 'expected "official" or "report"' }).optional(),
      ...fields,
      items: z
        .array(item, { error: "expected an array of items" })
        .min(1, { error: "expected at least one item" })
        .max(maxItems, { error: `at most ${maxItems} items in one request (limits.batchInputs)` })
        .optional(),
    })
    .strict()
    .superRefine((v, ctx) => {
      if (v.items === undefined) checkItem(v, ctx, []);
      else if (
        v.prompt !== undefined ||
        v.response !== undefined ||
        v.messages !== undefined ||
        v.id !== undefined
      )
        ctx.addIssue({
          code: "custom",
          path: ["items"],
          message: "give items (a batch) or one prompt/response/messages, not both",
        });
    });
}

function conversationOf(item: Item): ChatMessage[] {
  if (item.messages) return item.messages;
  return [
    { role: "user", content: item.prompt! },
    ...(item.response === undefined ? [] : [{ role: "assistant" as const, content: item.response }]),
  ];
}

interface Outcome {
  result: Record<string, unknown>;
  judgement: Judgement;
}

export function registerGuardModerateRoute(app: FastifyInstance, runtime: ServerRuntime): void {
  const limits = runtime.config.limits;
  const schema = bodySchema(limits.messages, limits.batchInputs);

  app.post(GUARD_MODERATE_ROUTE, async (request, reply) => {
    const body = parseOrThrow(schema, request.body);
    const items: Item[] = body.items ?? [body];
    const conversations = items.map(conversationOf);
    checkContentChars(
      conversations.flatMap((c) => c.map((m) => m.content)),
      limits.contentChars,
      body.items ? "items" : body.messages ? "messages" : "prompt",
    );
    const model = body.model ?? (runtime.gen ? "gen" : "stream");
    if (runtime[model] === undefined) {
      throw new HttpError(400, "MODEL_NOT_LOADED", `model: the ${model} model is not loaded on this server`, {
        param: "model",
      });
    }
    const tenant = request.tenant;
    const policy = runtime.policyFor(tenant);

    const one = async (item: Item, messages: ChatMessage[]): Promise<Outcome> => {
      const started = performance.now();
      const last = messages[messages.length - 1]!;
      const direction = last.role === "assistant" ? ("response" as const) : ("prompt" as const);
      let verdictFields: {
        tier: Judgement["tier"];
        categories: string[];
        probabilities?: Judgement["probabilities"];
      };
      let tokens: number;
      let verdict: Record<string, unknown>;
      if (model === "gen") {
        const v = await runtime.gen!.moderate(messages);
        verdictFields = { tier: v.tier, categories: v.categories, probabilities: v.probabilities };
        tokens = v.tokens?.prompt ?? 0;
        verdict = { ...v };
      } else {
        const r = await runtime.stream!.moderate(messages, {
          mode: policy.mode,
          ...(body.rule ? { rule: body.rule } : {}),
        });
        if (direction === "prompt") {
          const p = r.prompt;
          verdictFields = {
            tier: p.tier,
            categories: p.tier === "Safe" ? [] : [p.category],
            probabilities: p.probabilities,
          };
        } else {
          const a = r.response;
          verdictFields =
            a.tier === "Safe"
              ? { tier: "Safe", categories: [] }
              : { tier: a.tier, categories: [a.category], probabilities: a.probabilities };
        }
        tokens = r.prompt.promptTokens + r.tokens.length;
        verdict = {
          ...verdictFields,
          prompt: r.prompt,
          ...(direction === "response" ? { response: r.response, answerTokens: r.tokens.length } : {}),
          ...(r.trigger ? { trigger: r.trigger } : {}),
        };
      }
      const latencyMs = performance.now() - started;
      const policyVerdict = { direction, ...verdictFields };
      const decision = decideFor(runtime, tenant, policyVerdict);
      return {
        judgement: { ...policyVerdict, model, decision, latencyMs, tokens, text: last.content },
        result: {
          ...(item.id !== undefined ? { id: item.id } : {}),
          direction,
          action: decision.action,
          verdict,
          decision,
          latencyMs: Math.round(latencyMs * 10) / 10,
        },
      };
    };

    let outcomes: Outcome[];
    try {
      outcomes = await runtime.queues[model]!.run(
        items.map((item, i) => () => one(item, conversations[i]!)),
        requestSignal(runtime, reply.raw),
      );
    } catch (error) {
      throw guardFailure(error);
    }
    recordDecisions(
      runtime,
      request,
      GUARD_MODERATE_ROUTE,
      outcomes.map((o) => o.judgement),
    );
    return reply.send({
      id: `guard-${randomUUID().replaceAll("-", "")}`,
      model,
      tenant,
      ...(runtime.synthetic ? { synthetic: runtime.config.demo ? DEMO_LABEL : runtime.synthetic } : {}),
      results: outcomes.map((o) => o.result),
    });
  });
}
