/**
 * Fakes of the engines a guard can run on remotely — vLLM, SGLang, llama-server, Ollama — for contract tests. None
 * of them can run on the machines the tests run on, so each fake answers with a response body written from the
 * engine's documented schema (links in src/engine/remote/gen-clients.ts and hidden-state-clients.ts), from a
 * scripted "model": a fixed verdict, the canonical tokens of its text, and a distribution at every position. They
 * record every request, and can be told to fail (a status, a delay, a malformed body).
 *
 * These fakes check what we send and that we read what the documents say comes back; they cannot check that a
 * real engine behaves as documented (that is what the end-to-end tests against our own server, which speaks the
 * vLLM protocol, and the docs' "unconfirmed" notes are about).
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import type { QwenTokenizer } from "../../src/model/tokenizer/index.js";
import { RISK_TIERS, type Category, type Direction, type RiskTier } from "../../src/core/labels.js";

export type EngineKind = "vllm" | "sglang" | "llama-server" | "ollama";

export const ALL_KINDS = [
  "vllm",
  "sglang",
  "llama-server",
  "ollama",
] as const satisfies readonly EngineKind[];

/** The verdict the scripted model writes, and its tier distribution after `Safety:`. */
export interface VerdictScript {
  direction: Direction;
  tier: RiskTier;
  categories: Category[];
  refusal?: "Yes" | "No";
  /** P(first token of each tier) after `Safety:` (the rest of the mass goes to other tokens). */
  tierProbabilities: Record<RiskTier, number>;
  /** Other tokens at the tier position, with their probabilities (to push tier tokens out of a top k). */
  distractors?: [number, number][];
}

/** What a fake does with a request, by its index among the requests it received. */
export type Fault =
  | { kind: "status"; status: number; body?: string }
  | { kind: "delay"; ms: number }
  | { kind: "body"; body: string };

export interface ReceivedRequest {
  path: string;
  body: Record<string, unknown>;
  headers: http.IncomingHttpHeaders;
}

/** The scripted model: canonical output ids and the distribution at each output position. */
export class ScriptedGen {
  readonly output: number[];
  private readonly safety: number[];
  private readonly tierFirst: number[];

  constructor(
    private readonly tokenizer: QwenTokenizer,
    readonly script: VerdictScript,
  ) {
    const text =
      ` ${script.tier}\nCategories: ${script.categories.length > 0 ? script.categories.join(", ") : "None"}` +
      (script.direction === "response" ? `\nRefusal: ${script.refusal ?? "No"}` : "");
    this.output = [...tokenizer.encode(text, { specials: false }), tokenizer.addedTokenId("<|im_end|>")];
    this.safety = tokenizer.encode("Safety:", { specials: false });
    this.tierFirst = RISK_TIERS.map((t) => tokenizer.encode(` ${t}`, { specials: false })[0]!);
  }

  /** What follows a prompt: the output still to come and, per position, the distribution (id → probability). */
  continue(promptIds: readonly number[]): { ids: number[]; dists: Map<number, number>[] } {
    // the prompt ends with `Safety:` and whatever part of the output the caller already holds
    let at = -1;
    for (let i = promptIds.length - this.safety.length; i >= 0; i--) {
      if (this.safety.every((id, j) => promptIds[i + j] === id)) {
        at = i + this.safety.length;
        break;
      }
    }
    if (at < 0) throw new Error("the prompt holds no Safety: field");
    const held = promptIds.slice(at);
    if (!held.every((id, i) => id === this.output[i])) {
      throw new Error(`the prompt continues the output with ${JSON.stringify(held)}, not the script's`);
    }
    const ids = this.output.slice(held.length);
    const dists = ids.map((id, i) => {
      const position = held.length + i;
      const dist = new Map<number, number>();
      if (position === 0) {
        RISK_TIERS.forEach((t, j) => dist.set(this.tierFirst[j]!, this.script.tierProbabilities[t]));
        for (const [d, p] of this.script.distractors ?? []) dist.set(d, p);
      } else {
        dist.set(id, 0.97);
        dist.set(0, 0.01); // "!": some other token
      }
      return dist;
    });
    return { ids, dists };
  }
}

const lp = (p: number | undefined) => (p === undefined || p <= 0 ? -9999 : Math.log(p));

function topOf(dist: Map<number, number>, k: number): [number, number][] {
  return [...dist.entries()].sort((a, b) => b[1] - a[1]).slice(0, k);
}

/** A fake engine server on loopback. */
export class FakeEngine {
  readonly received: ReceivedRequest[] = [];
  /** Faults by request index (health checks excluded). */
  faults = new Map<number, Fault>();
  /** Whether GET health answers 200. */
  healthy = true;
  /** Stream backends: the hidden state of every token (default: a fixed function of the id and the position). */
  hidden: (ids: readonly number[]) => number[][] = (ids) =>
    ids.map((id, pos) => Array.from({ length: this.width }, (_, j) => Math.sin(id * 0.001 + pos * 0.37 + j)));
  /** Width of the hidden states a Stream fake returns. */
  width = 64;
  /** llama-server: answer one pooled vector (a server without --pooling none). */
  pooled = false;
  /** vLLM pooling: normalise the vectors (an engine that ignored use_activation: false). */
  normalise = false;
  private server: http.Server | undefined;
  private count = 0;

  constructor(
    readonly kind: EngineKind,
    private readonly tokenizer: QwenTokenizer,
    public model: ScriptedGen | undefined,
  ) {}

  get url(): string {
    const port = (this.server!.address() as AddressInfo).port;
    return `http://127.0.0.1:${port}`;
  }

  /** Requests received on a path. */
  on(path: string): ReceivedRequest[] {
    return this.received.filter((r) => r.path === path);
  }

  async start(): Promise<this> {
    this.server = http.createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => this.server!.listen(0, "127.0.0.1", resolve));
    return this;
  }

  async close(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()) ?? resolve());
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const path = (req.url ?? "/").split("?")[0]!;
    const send = (status: number, body: unknown) => {
      const text = typeof body === "string" ? body : JSON.stringify(body);
      res.writeHead(status, { "content-type": "application/json" });
      res.end(text);
    };
    if (req.method === "GET") {
      const healthPath = this.kind === "ollama" ? "/api/version" : "/health";
      if (path !== healthPath) return send(404, { error: "not found" });
      return this.healthy
        ? send(200, this.kind === "ollama" ? { version: "0.13.0" } : {})
        : send(503, { error: "loading" });
    }
    let raw = "";
    for await (const chunk of req) raw += String(chunk);
    const body = JSON.parse(raw) as Record<string, unknown>;
    this.received.push({ path, body, headers: req.headers });
    const index = this.count++;
    const fault = this.faults.get(index);
    if (fault?.kind === "delay") await new Promise((r) => setTimeout(r, fault.ms));
    if (res.destroyed || res.socket === null || res.socket.destroyed) return;
    if (fault?.kind === "status")
      return send(
        fault.status,
        fault.body ?? { error: { message: `scripted ${fault.status}`, code: fault.status } },
      );
    if (fault?.kind === "body") return send(200, fault.body);
    try {
      send(200, this.answer(path, body));
    } catch (error) {
      send(500, { error: { message: String(error) } });
    }
  }

  private answer(path: string, body: Record<string, unknown>): unknown {
    switch (`${this.kind} ${path}`) {
      case "vllm /v1/completions":
        return this.vllmCompletion(body);
      case "vllm /pooling":
        return this.vllmPooling(body);
      case "sglang /generate":
        return this.sglangGenerate(body);
      case "llama-server /completion":
        return this.llamaCompletion(body);
      case "llama-server /embeddings":
        return this.llamaEmbeddings(body);
      case "ollama /api/generate":
        return this.ollamaGenerate(body);
      default:
        throw new Error(`no route ${path}`);
    }
  }

  private gen(promptIds: number[], max: number) {
    const { ids, dists } = this.model!.continue(promptIds);
    return { ids: ids.slice(0, max), dists: dists.slice(0, max) };
  }

  /** vLLM `/v1/completions` (CompletionResponse; logprobs as CompletionLogProbs). */
  private vllmCompletion(body: Record<string, unknown>) {
    const prompt = body.prompt as number[];
    const { ids, dists } = this.gen(prompt, body.max_tokens as number);
    const k = (body.logprobs as number | undefined) ?? 0;
    const probe = body.logprob_token_ids as number[] | undefined;
    const key = (id: number) =>
      body.return_tokens_as_token_ids ? `token_id:${id}` : this.tokenizer.decode([id]);
    const text = this.tokenizer.decode(ids, { skipSpecialTokens: true });
    return {
      id: "cmpl-fake",
      object: "text_completion",
      created: 1,
      model: body.model ?? "Qwen/Qwen3Guard-Gen-0.6B",
      choices: [
        {
          index: 0,
          text,
          logprobs:
            k > 0
              ? {
                  text_offset: ids.map(() => 0),
                  token_logprobs: ids.map((id, i) => lp(dists[i]!.get(id))),
                  tokens: ids.map(key),
                  top_logprobs: ids.map((id, i) => {
                    const entries = probe
                      ? probe.map((p): [number, number] => [p, dists[i]!.get(p) ?? 0])
                      : topOf(dists[i]!, k);
                    const out: Record<string, number> = {};
                    for (const [t, p] of entries) out[key(t)] = lp(p);
                    out[key(id)] = lp(dists[i]!.get(id));
                    return out;
                  }),
                }
              : null,
          finish_reason: "stop",
          stop_reason: null,
          ...(body.return_token_ids ? { token_ids: ids, prompt_token_ids: prompt } : {}),
        },
      ],
      usage: {
        prompt_tokens: prompt.length,
        completion_tokens: ids.length,
        total_tokens: prompt.length + ids.length,
      },
    };
  }

  /** SGLang `/generate` (meta_info logprobs as [logprob, token_id, text] triples). */
  private sglangGenerate(body: Record<string, unknown>) {
    const sp = body.sampling_params as Record<string, unknown>;
    const prompt = body.input_ids as number[];
    const { ids, dists } = this.gen(prompt, sp.max_new_tokens as number);
    const k = (body.top_logprobs_num as number | undefined) ?? 0;
    const probe = body.token_ids_logprob as number[] | undefined;
    const triple = (id: number, p: number | undefined) => [lp(p), id, null];
    return {
      text: this.tokenizer.decode(ids, { skipSpecialTokens: true }),
      output_ids: ids,
      meta_info: {
        id: "fake",
        finish_reason: { type: "stop", matched: ids.at(-1) },
        prompt_tokens: prompt.length,
        completion_tokens: ids.length,
        cached_tokens: 0,
        ...(body.return_logprob
          ? {
              output_token_logprobs: ids.map((id, i) => triple(id, dists[i]!.get(id))),
              output_top_logprobs: ids.map((_, i) => topOf(dists[i]!, k).map(([t, p]) => triple(t, p))),
              ...(probe
                ? {
                    output_token_ids_logprobs: ids.map((_, i) =>
                      probe.map((t) => triple(t, dists[i]!.get(t))),
                    ),
                  }
                : {}),
            }
          : {}),
      },
    };
  }

  /** llama-server `/completion` (completion_probabilities with top_logprobs). */
  private llamaCompletion(body: Record<string, unknown>) {
    const prompt = body.prompt as number[];
    const { ids, dists } = this.gen(prompt, body.n_predict as number);
    const k = (body.n_probs as number | undefined) ?? 0;
    const entry = (id: number, p: number | undefined) => ({
      id,
      token: this.tokenizer.decode([id]),
      logprob: lp(p),
      bytes: [...this.tokenizer.tokenToBytes(id)],
    });
    return {
      index: 0,
      content: this.tokenizer.decode(ids, { skipSpecialTokens: true }),
      tokens: body.return_tokens ? ids : [],
      id_slot: 0,
      stop: true,
      model: "qwen3guard-gen.gguf",
      tokens_predicted: ids.length,
      tokens_evaluated: prompt.length,
      stop_type: "eos",
      stopping_word: "",
      tokens_cached: 0,
      ...(k > 0
        ? {
            completion_probabilities: ids.map((id, i) => ({
              ...entry(id, dists[i]!.get(id)),
              top_logprobs: topOf(dists[i]!, k).map(([t, p]) => entry(t, p)),
            })),
          }
        : {}),
    };
  }

  /** Ollama `/api/generate` (non-streaming; logprobs with token, logprob, bytes). */
  private ollamaGenerate(body: Record<string, unknown>) {
    // Ollama tokenizes the prompt itself, special tokens included
    const prompt = this.tokenizer.encode(body.prompt as string, { specials: true });
    const options = body.options as Record<string, unknown>;
    const { ids, dists } = this.gen(prompt, options.num_predict as number);
    const k = (body.top_logprobs as number | undefined) ?? 0;
    const entry = (id: number, p: number | undefined) => ({
      token: this.tokenizer.decode([id]),
      logprob: lp(p),
      bytes: [...this.tokenizer.tokenToBytes(id)],
    });
    return {
      model: body.model,
      created_at: "2026-12-01T00:00:00Z",
      response: this.tokenizer.decode(ids, { skipSpecialTokens: true }),
      done: true,
      done_reason: "stop",
      total_duration: 1,
      prompt_eval_count: prompt.length,
      eval_count: ids.length,
      ...(body.logprobs
        ? {
            logprobs: ids.map((id, i) => ({
              ...entry(id, dists[i]!.get(id)),
              top_logprobs: topOf(dists[i]!, k).map(([t, p]) => entry(t, p)),
            })),
          }
        : {}),
    };
  }

  /** vLLM `/pooling` with task token_embed (PoolingResponse; data per input, one row per token). */
  private vllmPooling(body: Record<string, unknown>) {
    const input = body.input as number[];
    let rows = this.hidden(input);
    if (this.normalise || body.use_activation !== false) {
      rows = rows.map((r) => {
        const n = Math.sqrt(r.reduce((a, x) => a + x * x, 0));
        return r.map((x) => x / n);
      });
    }
    return {
      id: "pool-fake",
      object: "list",
      created: 1,
      model: body.model ?? "backbone",
      data: [{ index: 0, object: "pooling", data: rows }],
      usage: { prompt_tokens: input.length, total_tokens: input.length, completion_tokens: 0 },
    };
  }

  /** llama-server `/embeddings` with --pooling none (one unnormalised vector per token). */
  private llamaEmbeddings(body: Record<string, unknown>) {
    const input = (body.input ?? body.content) as number[];
    const rows = this.hidden(input);
    return [{ index: 0, embedding: this.pooled ? rows[rows.length - 1] : rows }];
  }
}
