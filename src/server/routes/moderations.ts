/**
 * `POST /v1/moderations`: OpenAI's moderation endpoint (https://platform.openai.com/docs/api-reference/moderations),
 * answered by Qwen3Guard. Each input is moderated as a user prompt — by Gen when it is loaded, else by Stream's
 * query head — the tenant's policy decides `flagged`, and the categories are mapped as openai-moderation.ts says.
 * Each result also carries a `qwen3guard` object: the native verdict and the policy decision.
 */
import { randomUUID } from "node:crypto";
import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { guardFailure, recordDecisions, requestSignal, decideFor, type Judgement } from "../decisions.js";
import { HttpError } from "../http-errors.js";
import { toOpenAiResult, type ModerationInputVerdict } from "../openai-moderation.js";
import { DEMO_LABEL, type ServerRuntime } from "../runtime.js";
import { checkContentChars, parseOrThrow } from "../validate.js";

export const MODERATIONS_ROUTE = "/v1/moderations";

/** The model names this endpoint answers to (any other name, e.g. omni-moderation-latest, gets the default). */
export const MODERATION_MODEL_NAMES = { gen: "qwen3guard-gen", stream: "qwen3guard-stream" } as const;

const bodySchema = z
  .object({
    input: z.union([z.string(), z.array(z.unknown())], {
      error: 'expected a string, an array of strings, or an array of {"type": "text", "text": …} parts',
    }),
    model: z.string({ error: "expected a model name (a string)" }).max(256).optional(),
  })
  .strict();

/**
 * The texts to moderate: a string is one input; an array of strings is one input each; an array of text parts is
 * one input (OpenAI's multi-modal form: one result for the parts together), its texts joined by newlines.
 */
export function moderationInputs(input: string | unknown[], maxInputs: number): string[] {
  if (typeof input === "string") return [input];
  if (input.length === 0) throw badInput("input", "expected at least one input");
  if (input.length > maxInputs) {
    throw badInput(
      "input",
      `${input.length} inputs in one request; the limit is ${maxInputs} (limits.batchInputs)`,
    );
  }
  const strings = input.every((x) => typeof x === "string");
  if (strings) return input as string[];
  const texts: string[] = [];
  input.forEach((part, i) => {
    const where = `input[${i}]`;
    if (typeof part === "string") {
      throw badInput(where, "do not mix strings and {type, text} parts in one input array");
    }
    if (typeof part !== "object" || part === null || Array.isArray(part)) {
      throw badInput(where, 'expected a string or a {"type": "text", "text": …} part');
    }
    const { type, text } = part as { type?: unknown; text?: unknown };
    if (type === "image_url") {
      throw badInput(
        where,
        "image inputs are not supported: Qwen3Guard moderates text only (send the text parts, or strings)",
      );
    }
    if (type !== "text") throw badInput(`${where}.type`, 'expected "text"');
    if (typeof text !== "string") throw badInput(`${where}.text`, "expected a string");
    texts.push(text);
  });
  return [texts.join("\n")];
}

function badInput(param: string, message: string): HttpError {
  return new HttpError(400, "BAD_REQUEST", `${param}: ${message}`, { param });
}

/** Which guard answers: the name asked for when it is one of ours, else Gen when loaded, else Stream. */
export function moderationModel(runtime: ServerRuntime, asked: string | undefined): "gen" | "stream" {
  if (asked === MODERATION_MODEL_NAMES.stream || asked === MODERATION_MODEL_NAMES.gen) {
    const kind = asked === MODERATION_MODEL_NAMES.gen ? "gen" : "stream";
    if (runtime[kind] === undefined) {
      throw new HttpError(400, "MODEL_NOT_LOADED", `model: ${asked} is not loaded on this server`, {
        param: "model",
      });
    }
    return kind;
  }
  return runtime.gen ? "gen" : "stream";
}

interface InputOutcome {
  verdict: ModerationInputVerdict;
  judgement: Judgement;
  native: Record<string, unknown>;
}

export function registerModerationRoutes(app: FastifyInstance, runtime: ServerRuntime): void {
  const limits = runtime.config.limits;

  app.post(MODERATIONS_ROUTE, async (request, reply) => {
    const body = parseOrThrow(bodySchema, request.body);
    const texts = moderationInputs(body.input, limits.batchInputs);
    checkContentChars(texts, limits.contentChars, "input");
    const model = moderationModel(runtime, body.model);
    const queue = runtime.queues[model]!;
    const tenant = request.tenant;
    const mode = runtime.policyFor(tenant).mode;

    const one = async (text: string): Promise<InputOutcome> => {
      const started = performance.now();
      let verdict: ModerationInputVerdict;
      let tokens: number;
      let native: Record<string, unknown>;
      if (model === "gen") {
        const v = await runtime.gen!.moderatePrompt(text);
        verdict = { model, tier: v.tier, categories: v.categories, probabilities: v.probabilities };
        tokens = v.tokens?.prompt ?? 0;
        native = {
          tier: v.tier,
          categories: v.categories,
          ...(v.probabilities ? { probabilities: v.probabilities } : {}),
        };
      } else {
        const r = await runtime.stream!.moderate([{ role: "user", content: text }], { mode });
        const p = r.prompt;
        verdict = {
          model,
          tier: p.tier,
          categories: p.tier === "Safe" ? [] : [p.category],
          probabilities: p.probabilities,
          categoryProbabilities: p.categoryProbabilities,
        };
        tokens = p.promptTokens;
        native = {
          tier: p.tier,
          categories: verdict.categories,
          probabilities: p.probabilities,
          category: p.category,
          categoryProbabilities: p.categoryProbabilities,
        };
      }
      const latencyMs = performance.now() - started;
      const policyVerdict = { direction: "prompt" as const, ...verdict };
      const decision = decideFor(runtime, tenant, policyVerdict);
      return {
        verdict,
        native,
        judgement: { ...policyVerdict, model, decision, latencyMs, tokens, text },
      };
    };

    let outcomes: InputOutcome[];
    try {
      outcomes = await queue.run(
        texts.map((t) => () => one(t)),
        requestSignal(runtime, reply.raw),
      );
    } catch (error) {
      throw guardFailure(error);
    }
    recordDecisions(
      runtime,
      request,
      MODERATIONS_ROUTE,
      outcomes.map((o) => o.judgement),
    );
    const synthetic = runtime.synthetic ? (runtime.config.demo ? DEMO_LABEL : runtime.synthetic) : undefined;
    return reply.send({
      id: `modr-${randomUUID().replaceAll("-", "")}`,
      model: body.model ?? MODERATION_MODEL_NAMES[model],
      results: outcomes.map(({ verdict, judgement, native }) => ({
        ...toOpenAiResult(verdict, judgement.decision),
        qwen3guard: {
          model,
          direction: "prompt",
          ...native,
          decision: judgement.decision,
          ...(synthetic ? { synthetic } : {}),
        },
      })),
    });
  });
}
