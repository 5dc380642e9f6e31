/**
 * The engine protocols this server speaks, so that one qwen3guard server can be another's remote engine (kind
 * `"qwen3guard"`, or `"vllm"`: the same bodies):
 *
 * - `POST /v1/completions` (vLLM's completions API, Gen): a token-id `prompt`, `max_tokens`, `logprobs` (top k),
 *   `logprob_token_ids`, `return_token_ids`, `return_tokens_as_token_ids`, `structured_outputs: {regex}`;
 *   greedy decoding on the embedded Gen engine (see src/engine/gen/completion.ts).
 * - `POST /pooling` (vLLM's pooling API, `task: "token_embed"`) and `POST /embeddings` (llama-server's, as with
 *   `--pooling none`), Stream: the backbone's last hidden state for every input token.
 *
 * Unknown fields are ignored (as vLLM does); fields that would change the semantics in ways this server does not
 * implement (`n` > 1, `stream`, `echo`, a temperature above 0, string prompts, other constraints) are refused with
 * 400. Authentication is the server's (a tenant's API key when keys are configured).
 */
import { randomUUID } from "node:crypto";
import type { FastifyInstance, FastifyRequest } from "fastify";
import { z } from "zod";
import { guardFailure, requestSignal } from "../decisions.js";
import { HttpError } from "../http-errors.js";
import type { ServerRuntime } from "../runtime.js";
import { parseOrThrow } from "../validate.js";

export const COMPLETIONS_ROUTE = "/v1/completions";
export const POOLING_ROUTE = "/pooling";
export const EMBEDDINGS_ROUTE = "/embeddings";

/** Top log-probabilities a request may ask for (vLLM's default `--max-logprobs`). */
export const MAX_LOGPROBS = 20;
/** Tokens one completion may generate. */
export const MAX_COMPLETION_TOKENS = 512;

const tokenIds = z.array(z.number().int().min(0), { error: "expected an array of token ids" });

const completionSchema = z.looseObject({
  model: z.string().optional(),
  prompt: z.union([tokenIds.min(1, "the prompt holds no token"), z.array(tokenIds).length(1)], {
    error:
      "expected the prompt as token ids (an array of integers, or one such array): this server does not tokenize text",
  }),
  max_tokens: z.number().int().min(1).max(MAX_COMPLETION_TOKENS).default(16),
  temperature: z
    .number()
    .max(0, "this server decodes greedily: temperature must be 0 (or absent)")
    .optional(),
  logprobs: z.number().int().min(0).max(MAX_LOGPROBS).nullish(),
  logprob_token_ids: tokenIds.min(1).max(64).nullish(),
  return_token_ids: z.boolean().nullish(),
  return_tokens_as_token_ids: z.boolean().nullish(),
  skip_special_tokens: z.boolean().optional(),
  n: z.literal(1, "only n: 1 is supported").optional(),
  stream: z.literal(false, "streaming is not supported").optional(),
  echo: z.literal(false, "echo is not supported").optional(),
  structured_outputs: z
    .object({ regex: z.string().min(1).max(100_000) }, { error: "expected {regex}" })
    .strict()
    .nullish(),
});

const ENCODINGS = ["float", "base64"] as const;

const poolingSchema = z.looseObject({
  model: z.string().optional(),
  input: z.union([tokenIds.min(1, "the input holds no token"), z.array(tokenIds.min(1)).min(1).max(64)], {
    error:
      "expected the input as token ids (an array of integers, or arrays of them): this server does not tokenize text",
  }),
  task: z.literal("token_embed", 'this server serves task "token_embed" only').optional(),
  use_activation: z.boolean().nullish(),
  encoding_format: z.enum(ENCODINGS, { error: 'expected "float" or "base64"' }).optional(),
  embed_dtype: z.literal("float32", 'only embed_dtype "float32" is supported').optional(),
  endianness: z.enum(["native", "little"], { error: 'expected "native" or "little"' }).optional(),
});

const embeddingsSchema = z.looseObject({
  input: z
    .union([tokenIds.min(1), z.array(tokenIds.min(1)).min(1).max(64)], {
      error: "expected the input as token ids (an array of integers, or arrays of them)",
    })
    .optional(),
  content: z.union([tokenIds.min(1), z.array(tokenIds.min(1)).min(1).max(64)]).optional(),
  embd_normalize: z.number().int().optional(),
});

/** One id list or several: always a list of lists. */
function batches(input: number[] | number[][]): number[][] {
  return typeof input[0] === "number" ? [input as number[]] : (input as number[][]);
}

function l2normalise(v: Float32Array): Float32Array {
  let sum = 0;
  for (const x of v) sum += x * x;
  const norm = Math.sqrt(sum);
  return norm > 0 ? v.map((x) => x / norm) : v;
}

function base64Of(states: readonly Float32Array[]): string {
  const width = states[0]?.length ?? 0;
  const all = new Float32Array(states.length * width);
  states.forEach((s, i) => all.set(s, i * width));
  return Buffer.from(all.buffer, all.byteOffset, all.byteLength).toString("base64");
}

function authenticate(runtime: ServerRuntime, request: FastifyRequest): void {
  // routes outside /v1 are not covered by the server's hook: these expose the model, so they need a key too
  request.tenant = runtime.auth.tenantOf(request.headers);
}

export function registerEngineApiRoutes(app: FastifyInstance, runtime: ServerRuntime): void {
  app.post(COMPLETIONS_ROUTE, async (request, reply) => {
    const gen = runtime.gen;
    if (gen === undefined || gen.info.engine === "remote") {
      throw new HttpError(
        404,
        "MODEL_NOT_LOADED",
        "POST /v1/completions serves the embedded Gen model, and this server has none",
      );
    }
    const body = parseOrThrow(completionSchema, request.body);
    const prompt = batches(body.prompt)[0]!;
    const k = body.logprobs ?? 0;
    if (body.logprob_token_ids && k === 0) {
      throw new HttpError(400, "BAD_REQUEST", "logprob_token_ids: needs logprobs to be set", {
        param: "logprob_token_ids",
      });
    }
    let result;
    try {
      [result] = await runtime.queues.gen!.run(
        [
          () =>
            gen.complete(prompt, {
              maxTokens: body.max_tokens,
              ...(k > 0 ? { logprobs: k } : {}),
              ...(body.logprob_token_ids ? { logprobTokenIds: body.logprob_token_ids } : {}),
              ...(body.structured_outputs ? { regex: body.structured_outputs.regex } : {}),
              skipSpecialTokens: body.skip_special_tokens ?? true,
            }),
        ],
        requestSignal(runtime, reply.raw),
      );
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      if (code === "REGEX_UNSUPPORTED" || code === "TOKENIZER_USAGE") {
        throw new HttpError(400, "BAD_REQUEST", (error as Error).message, {
          param: code === "REGEX_UNSUPPORTED" ? "structured_outputs.regex" : "prompt",
        });
      }
      throw guardFailure(error);
    }
    const { text, positions } = result!;
    const asIds = body.return_tokens_as_token_ids === true;
    const tokenKey = (t: { id: number; text: string }) => (asIds ? `token_id:${t.id}` : t.text);
    // as vLLM: a log-probability of minus infinity is sent as -9999
    const finite = (lp: number) => (Number.isFinite(lp) ? lp : -9999);
    let logprobs: Record<string, unknown> | null = null;
    if (k > 0 && positions) {
      let offset = 0;
      const textOffset: number[] = [];
      for (const p of positions) {
        textOffset.push(offset);
        offset += p.text.length;
      }
      logprobs = {
        text_offset: textOffset,
        token_logprobs: positions.map((p) => finite(p.logprob)),
        tokens: positions.map(tokenKey),
        top_logprobs: positions.map((p) => {
          const top: Record<string, number> = {};
          for (const t of p.top) top[tokenKey(t)] = finite(t.logprob);
          // as vLLM: the chosen token is always listed
          top[tokenKey(p)] ??= finite(p.logprob);
          return top;
        }),
      };
    }
    return reply.send({
      id: `cmpl-${randomUUID().replaceAll("-", "")}`,
      object: "text_completion",
      created: Math.floor(Date.now() / 1000),
      model: body.model ?? gen.info.model.name,
      choices: [
        {
          index: 0,
          text,
          logprobs,
          finish_reason: result!.finishReason,
          stop_reason: null,
          ...(body.return_token_ids ? { token_ids: result!.ids, prompt_token_ids: prompt } : {}),
        },
      ],
      usage: {
        prompt_tokens: prompt.length,
        completion_tokens: result!.ids.length,
        total_tokens: prompt.length + result!.ids.length,
      },
    });
  });

  const hiddenStates = async (inputs: number[][], signal: AbortSignal): Promise<Float32Array[][]> => {
    const stream = runtime.stream;
    if (stream === undefined) {
      throw new HttpError(
        404,
        "MODEL_NOT_LOADED",
        "this server has no Stream model to give hidden states of",
      );
    }
    try {
      return await runtime.queues.stream!.run(
        inputs.map((ids) => () => stream.hiddenStates(ids, { signal })),
        signal,
      );
    } catch (error) {
      if ((error as { code?: unknown }).code === "STREAM_INPUT_INVALID")
        throw new HttpError(400, "BAD_REQUEST", (error as Error).message, { param: "input" });
      throw guardFailure(error);
    }
  };

  app.post(POOLING_ROUTE, async (request, reply) => {
    authenticate(runtime, request);
    const body = parseOrThrow(poolingSchema, request.body);
    const inputs = batches(body.input);
    const states = await hiddenStates(inputs, requestSignal(runtime, reply.raw));
    // vLLM normalises token embeddings unless use_activation is false
    const normalise = body.use_activation !== false;
    const tokens = inputs.reduce((n, ids) => n + ids.length, 0);
    return reply.send({
      id: `pool-${randomUUID().replaceAll("-", "")}`,
      object: "list",
      created: Math.floor(Date.now() / 1000),
      model: body.model ?? runtime.stream!.info.model.name,
      data: states.map((perToken, index) => {
        const rows = normalise ? perToken.map(l2normalise) : perToken;
        return {
          index,
          object: "pooling",
          data: body.encoding_format === "base64" ? base64Of(rows) : rows.map((r) => Array.from(r)),
        };
      }),
      usage: { prompt_tokens: tokens, total_tokens: tokens, completion_tokens: 0 },
    });
  });

  app.post(EMBEDDINGS_ROUTE, async (request, reply) => {
    authenticate(runtime, request);
    const body = parseOrThrow(embeddingsSchema, request.body);
    const input = body.input ?? body.content;
    if (input === undefined) {
      throw new HttpError(400, "BAD_REQUEST", "input: expected token ids", { param: "input" });
    }
    const inputs = batches(input);
    const states = await hiddenStates(inputs, requestSignal(runtime, reply.raw));
    // as llama-server with --pooling none: unnormalised, one vector per token
    return reply.send(
      states.map((perToken, index) => ({ index, embedding: perToken.map((r) => Array.from(r)) })),
    );
  });
}
