/**
 * One client per engine protocol for Gen: each turns a completion request (token ids or text, a format
 * constraint, top-k log-probabilities, the format's tokens to probe at every position) into the engine's own
 * request body and reads its documented answer back: the text, the generated ids, and per position the
 * log-probabilities reported.
 *
 * - vLLM and qwen3guard: `POST /v1/completions` with `prompt` as token ids, `logprobs`, `logprob_token_ids`,
 *   `return_token_ids`, `return_tokens_as_token_ids`, `structured_outputs: {regex}`
 *   (https://docs.vllm.ai/en/latest/serving/openai_compatible_server.html, https://docs.vllm.ai/en/latest/features/structured_outputs.html).
 * - SGLang: `POST /generate` with `input_ids`, `return_logprob`, `top_logprobs_num`, `token_ids_logprob`,
 *   `sampling_params.regex` (https://docs.sglang.ai/basic_usage/sampling_params.html).
 * - llama-server: `POST /completion` with a token-array `prompt`, `n_probs`, `cache_prompt`, `grammar` (GBNF),
 *   `return_tokens` (https://github.com/ggml-org/llama.cpp/blob/master/tools/server/README.md).
 * - Ollama: `POST /api/generate` with `raw: true`, a text prompt, `logprobs`, `top_logprobs` (≤ 20); it takes no
 *   token ids and no regex (https://docs.ollama.com/api/generate).
 */
import { getJson, postJson, type HttpCallOptions } from "./http-client.js";
import type { PoolClient } from "./backend-pool.js";
import { ShapeReader } from "./json-shape.js";
import type { FormatConstraint } from "./output-format.js";
import type { ResolvedRemoteBackend } from "./remote-options.js";

export interface GenCompletionRequest {
  /** The prompt as token ids (engines that take them). */
  promptIds: readonly number[];
  /** The same prompt as text (Ollama): normalised (NFC) template text with its special tokens, and content. */
  promptText: string;
  maxTokens: number;
  /** The output format to hold the decode to; undefined: free greedy decoding (reference mode). */
  constraint: FormatConstraint | undefined;
  /** Top log-probabilities wanted per position (0: none). */
  topLogprobs: number;
  /**
   * Token ids whose log-probabilities are wanted at every output position (the format's tokens), from engines
   * that report chosen ids (vLLM's `logprob_token_ids`, SGLang's `token_ids_logprob`, qwen3guard).
   */
  probeIds: readonly number[];
  /** The id of a token given by its bytes (latin1 string), for engines that report tokens as text (Ollama). */
  idOfBytes: (bytes: string) => number | undefined;
  /** Positions the model may use (Ollama's `num_ctx`: it cuts longer prompts silently otherwise). */
  contextSize: number;
}

/** What the engine reported at one generated position. */
export interface PositionLogprobs {
  /** The token it generated there (when known). */
  chosen: number | undefined;
  /** Log-probability of every token reported there: the chosen one, the top k, the probed ids. */
  logprobs: Map<number, number>;
  /** The top-k log-probabilities alone (the bound on unreported tokens comes from them), and the k asked for. */
  topK: { logprobs: number[]; k: number } | undefined;
}

export interface GenCompletionResult {
  /** The generated text, special tokens left out. */
  text: string;
  /** The generated token ids, when the engine returns them (or reports them in its log-probabilities). */
  outputIds: number[] | undefined;
  /** Per generated position, when log-probabilities were asked for. */
  positions: PositionLogprobs[];
  /** Generated tokens, as the engine counts them. */
  generatedTokens: number;
}

/** A Gen backend: how to complete and how to check health. */
export interface GenClient extends PoolClient {
  /** Whether the engine takes token ids (all but Ollama). */
  readonly takesTokenIds: boolean;
  /** Whether the engine holds the decode to a constraint (all but Ollama). */
  readonly constrains: boolean;
  complete(request: GenCompletionRequest, options: HttpCallOptions): Promise<GenCompletionResult>;
}

const latin1 = (bytes: Uint8Array) => Buffer.from(bytes).toString("latin1");

/** vLLM's OpenAI-compatible completions, and a qwen3guard server speaking the same protocol. */
export class VllmGenClient implements GenClient {
  readonly takesTokenIds = true;
  readonly constrains = true;

  constructor(readonly backend: ResolvedRemoteBackend) {}

  async health(options: HttpCallOptions): Promise<void> {
    await getJson(this.backend, this.backend.kind === "qwen3guard" ? "/readyz" : "/health", options);
  }

  async complete(request: GenCompletionRequest, options: HttpCallOptions): Promise<GenCompletionResult> {
    const k = request.topLogprobs;
    const body = {
      ...(this.backend.model !== undefined ? { model: this.backend.model } : {}),
      prompt: request.promptIds,
      max_tokens: request.maxTokens,
      temperature: 0,
      ...(k > 0
        ? {
            logprobs: k,
            // newer vLLM returns exactly these at every position; older versions ignore the field
            ...(request.probeIds.length > 0 && this.backend.logprobTokenIds
              ? { logprob_token_ids: request.probeIds }
              : {}),
            return_tokens_as_token_ids: true,
          }
        : {}),
      return_token_ids: true,
      skip_special_tokens: true,
      ...(request.constraint ? { structured_outputs: { regex: request.constraint.regex } } : {}),
    };
    const answer = await postJson(this.backend, "/v1/completions", body, options);
    const r: ShapeReader = new ShapeReader(this.backend.name, "POST /v1/completions");
    const root = r.object(answer, "(body)");
    const choice = r.object(r.array(root.choices, "choices")[0], "choices[0]");
    const text = r.string(choice.text, "choices[0].text");
    const outputIds = r.optionalIds(choice.token_ids, "choices[0].token_ids");
    const positions: PositionLogprobs[] = [];
    if (k > 0 && choice.logprobs !== null && choice.logprobs !== undefined) {
      const lp = r.object(choice.logprobs, "choices[0].logprobs");
      const tops = r.array(lp.top_logprobs, "choices[0].logprobs.top_logprobs");
      const tokens = lp.tokens === undefined ? [] : r.array(lp.tokens, "choices[0].logprobs.tokens");
      const chosenLps =
        lp.token_logprobs === undefined
          ? []
          : r.array(lp.token_logprobs, "choices[0].logprobs.token_logprobs");
      const idOf = (key: string, path: string): number => {
        const m = /^token_id:(\d+)$/.exec(key);
        if (!m) r.fail(`${path} ${JSON.stringify(key)}`, '"token_id:<id>" (return_tokens_as_token_ids)');
        return Number(m[1]);
      };
      tops.forEach((entry, i) => {
        const path = `choices[0].logprobs.top_logprobs[${i}]`;
        const top = entry === null ? {} : r.object(entry, path);
        const logprobs = new Map<number, number>();
        for (const [key, value] of Object.entries(top))
          logprobs.set(idOf(key, `${path} key`), r.number(value, `${path}["${key}"]`));
        const chosen =
          outputIds?.[i] ??
          (typeof tokens[i] === "string" ? idOf(tokens[i], `choices[0].logprobs.tokens[${i}]`) : undefined);
        if (chosen !== undefined && typeof chosenLps[i] === "number" && !logprobs.has(chosen))
          logprobs.set(chosen, chosenLps[i]);
        positions.push({ chosen, logprobs, topK: { logprobs: [...logprobs.values()], k } });
      });
    }
    const usage = root.usage as { completion_tokens?: unknown } | undefined;
    return {
      text,
      outputIds,
      positions,
      generatedTokens:
        outputIds?.length ?? (typeof usage?.completion_tokens === "number" ? usage.completion_tokens : 0),
    };
  }
}

/** SGLang's native `/generate`. */
export class SglangGenClient implements GenClient {
  readonly takesTokenIds = true;
  readonly constrains = true;

  constructor(readonly backend: ResolvedRemoteBackend) {}

  async health(options: HttpCallOptions): Promise<void> {
    await getJson(this.backend, "/health", options);
  }

  async complete(request: GenCompletionRequest, options: HttpCallOptions): Promise<GenCompletionResult> {
    const k = request.topLogprobs;
    const body = {
      input_ids: request.promptIds,
      sampling_params: {
        temperature: 0,
        max_new_tokens: request.maxTokens,
        skip_special_tokens: true,
        ...(request.constraint ? { regex: request.constraint.regex } : {}),
      },
      ...(k > 0
        ? {
            return_logprob: true,
            logprob_start_len: -1,
            top_logprobs_num: k,
            ...(request.probeIds.length > 0 && this.backend.logprobTokenIds
              ? { token_ids_logprob: request.probeIds }
              : {}),
          }
        : {}),
    };
    const answer = await postJson(this.backend, "/generate", body, options);
    const r: ShapeReader = new ShapeReader(this.backend.name, "POST /generate");
    const root = r.object(Array.isArray(answer) ? answer[0] : answer, "(body)");
    const text = r.string(root.text, "text");
    const outputIds = r.optionalIds(root.output_ids, "output_ids");
    const meta = r.object(root.meta_info, "meta_info");
    const positions: PositionLogprobs[] = [];
    if (k > 0) {
      // each entry: [logprob, token_id, token_text | null]
      const entries = (value: unknown, path: string) =>
        value === null
          ? []
          : r.array(value, path).map((e, i) => {
              const t = r.array(e, `${path}[${i}]`);
              return [r.number(t[0], `${path}[${i}][0]`), r.int(t[1], `${path}[${i}][1]`)] as const;
            });
      const chosen = entries(meta.output_token_logprobs ?? [], "meta_info.output_token_logprobs");
      const tops = r.array(meta.output_top_logprobs ?? [], "meta_info.output_top_logprobs");
      const asked = r.array(meta.output_token_ids_logprobs ?? [], "meta_info.output_token_ids_logprobs");
      const n = Math.max(chosen.length, tops.length, asked.length);
      for (let i = 0; i < n; i++) {
        const top = i < tops.length ? entries(tops[i], `meta_info.output_top_logprobs[${i}]`) : [];
        const logprobs = new Map(top.map(([lp, id]) => [id, lp]));
        if (i < asked.length)
          for (const [lp, id] of entries(asked[i], `meta_info.output_token_ids_logprobs[${i}]`))
            logprobs.set(id, lp);
        const c = chosen[i];
        if (c) logprobs.set(c[1], c[0]);
        positions.push({
          chosen: outputIds?.[i] ?? c?.[1],
          logprobs,
          topK: { logprobs: top.map(([lp]) => lp), k },
        });
      }
    }
    return {
      text,
      outputIds,
      positions,
      generatedTokens:
        outputIds?.length ?? (typeof meta.completion_tokens === "number" ? meta.completion_tokens : 0),
    };
  }
}

/** llama.cpp's llama-server, native `/completion`. */
export class LlamaServerGenClient implements GenClient {
  readonly takesTokenIds = true;
  readonly constrains = true;

  constructor(readonly backend: ResolvedRemoteBackend) {}

  async health(options: HttpCallOptions): Promise<void> {
    await getJson(this.backend, "/health", options);
  }

  async complete(request: GenCompletionRequest, options: HttpCallOptions): Promise<GenCompletionResult> {
    const k = request.topLogprobs;
    const body = {
      prompt: request.promptIds,
      n_predict: request.maxTokens,
      cache_prompt: true,
      return_tokens: true,
      // greedy, no penalties: the argmax among the tokens the grammar allows
      temperature: 0,
      top_k: 1,
      top_p: 1,
      min_p: 0,
      typical_p: 1,
      repeat_penalty: 1,
      repeat_last_n: 0,
      presence_penalty: 0,
      frequency_penalty: 0,
      dry_multiplier: 0,
      xtc_probability: 0,
      mirostat: 0,
      ...(k > 0 ? { n_probs: k } : {}),
      ...(request.constraint ? { grammar: request.constraint.gbnf } : {}),
    };
    const answer = await postJson(this.backend, "/completion", body, options);
    const r: ShapeReader = new ShapeReader(this.backend.name, "POST /completion");
    const root = r.object(answer, "(body)");
    const text = r.string(root.content, "content");
    const outputIds = r.optionalIds(root.tokens, "tokens");
    const positions: PositionLogprobs[] = [];
    const probsKey = root.completion_probabilities !== undefined ? "completion_probabilities" : "probs";
    if (k > 0 && root[probsKey] !== undefined && root[probsKey] !== null) {
      r.array(root[probsKey], probsKey).forEach((entry, i) => {
        const path = `${probsKey}[${i}]`;
        const p = r.object(entry, path);
        const top = r.array(p.top_logprobs ?? [], `${path}.top_logprobs`).map((e, j) => {
          const o = r.object(e, `${path}.top_logprobs[${j}]`);
          return [
            r.int(o.id, `${path}.top_logprobs[${j}].id`),
            r.number(o.logprob, `${path}.top_logprobs[${j}].logprob`),
          ] as const;
        });
        const logprobs = new Map<number, number>(top);
        const chosen = typeof p.id === "number" ? p.id : outputIds?.[i];
        if (chosen !== undefined && typeof p.logprob === "number") logprobs.set(chosen, p.logprob);
        positions.push({ chosen, logprobs, topK: { logprobs: top.map(([, lp]) => lp), k } });
      });
    }
    return {
      text,
      outputIds: outputIds && outputIds.length > 0 ? outputIds : undefined,
      positions,
      generatedTokens:
        outputIds?.length ?? (typeof root.tokens_predicted === "number" ? root.tokens_predicted : 0),
    };
  }
}

/** Ollama's `/api/generate` in raw mode: a text prompt, no constraint, tokens reported as text and bytes. */
export class OllamaGenClient implements GenClient {
  readonly takesTokenIds = false;
  readonly constrains = false;

  constructor(readonly backend: ResolvedRemoteBackend) {}

  async health(options: HttpCallOptions): Promise<void> {
    await getJson(this.backend, "/api/version", options);
  }

  async complete(request: GenCompletionRequest, options: HttpCallOptions): Promise<GenCompletionResult> {
    const k = Math.min(request.topLogprobs, 20);
    const body = {
      model: this.backend.model,
      prompt: request.promptText,
      raw: true,
      stream: false,
      ...(k > 0 ? { logprobs: true, top_logprobs: k } : {}),
      options: {
        temperature: 0,
        top_k: 1,
        seed: 0,
        num_predict: request.maxTokens,
        num_ctx: request.contextSize,
        repeat_penalty: 1,
        repeat_last_n: 0,
      },
    };
    const answer = await postJson(this.backend, "/api/generate", body, options);
    const r: ShapeReader = new ShapeReader(this.backend.name, "POST /api/generate");
    const root = r.object(answer, "(body)");
    const text = r.string(root.response, "response");
    const positions: PositionLogprobs[] = [];
    const bytesOf = (o: Record<string, unknown>, path: string): string =>
      Array.isArray(o.bytes)
        ? latin1(Uint8Array.from(o.bytes as number[]))
        : latin1(new TextEncoder().encode(r.string(o.token, `${path}.token`)));
    if (k > 0 && root.logprobs !== undefined && root.logprobs !== null) {
      r.array(root.logprobs, "logprobs").forEach((entry, i) => {
        const path = `logprobs[${i}]`;
        const p = r.object(entry, path);
        const logprobs = new Map<number, number>();
        const top: number[] = [];
        r.array(p.top_logprobs ?? [], `${path}.top_logprobs`).forEach((e, j) => {
          const o = r.object(e, `${path}.top_logprobs[${j}]`);
          const lp = r.number(o.logprob, `${path}.top_logprobs[${j}].logprob`);
          top.push(lp);
          const id = request.idOfBytes(bytesOf(o, `${path}.top_logprobs[${j}]`));
          if (id !== undefined) logprobs.set(id, lp);
        });
        const chosen = request.idOfBytes(bytesOf(p, path));
        if (chosen !== undefined && typeof p.logprob === "number") logprobs.set(chosen, p.logprob);
        positions.push({ chosen, logprobs, topK: { logprobs: top, k } });
      });
    }
    const ids = positions.map((p) => p.chosen);
    return {
      text,
      // the ids, read back from the tokens its log-probabilities report
      outputIds: ids.length > 0 && ids.every((id) => id !== undefined) ? (ids as number[]) : undefined,
      positions,
      generatedTokens: typeof root.eval_count === "number" ? root.eval_count : 0,
    };
  }
}

/** The client for a backend's kind. */
export function genClientFor(backend: ResolvedRemoteBackend): GenClient {
  switch (backend.kind) {
    case "vllm":
    case "qwen3guard":
      return new VllmGenClient(backend);
    case "sglang":
      return new SglangGenClient(backend);
    case "llama-server":
      return new LlamaServerGenClient(backend);
    case "ollama":
      return new OllamaGenClient(backend);
  }
}
