/**
 * Remote engines: the backends a guard sends its model work to, and the pool's settings (timeouts, retries,
 * health checks, circuit breaker, Stream chunking). Part of the engine options (`EngineOptions.remote`); the
 * defaults are here and nowhere else.
 */
import type { Registry } from "prom-client";
import { z } from "zod";

/**
 * What serves the model behind a URL:
 * - `"vllm"`: vLLM's OpenAI-compatible server (Gen: `POST /v1/completions`; Stream backbone: `POST /pooling`);
 * - `"sglang"`: SGLang's native `POST /generate` (Gen only);
 * - `"llama-server"`: llama.cpp's server (Gen: `POST /completion`; Stream backbone: `POST /embeddings` of a server
 *   started with `--embeddings --pooling none`);
 * - `"ollama"`: Ollama's `POST /api/generate` (Gen only; text prompts only, see docs/scale-out.md);
 * - `"qwen3guard"`: another `qwen3guard serve` (the vLLM protocol for Gen, vLLM's `/pooling` for Stream).
 *
 * @example
 * ```ts
 * import type { RemoteBackendKind } from "qwen3guard";
 *
 * const takesTokenIds = (kind: RemoteBackendKind) => kind !== "ollama";
 * console.log(takesTokenIds("sglang"), takesTokenIds("ollama")); // true false
 * ```
 */
export type RemoteBackendKind = "vllm" | "sglang" | "llama-server" | "ollama" | "qwen3guard";

export const REMOTE_BACKEND_KINDS = [
  "vllm",
  "sglang",
  "llama-server",
  "ollama",
  "qwen3guard",
] as const satisfies readonly RemoteBackendKind[];

/**
 * One engine server of `RemoteOptions.backends`: its kind, URL and what it is sent (key, model name, how many
 * requests at once, how many log-probabilities). See docs/scale-out.md.
 *
 * @example
 * ```ts
 * import { resolveEngineOptions, type RemoteBackend } from "qwen3guard";
 *
 * const vllm: RemoteBackend = {
 *   kind: "vllm",
 *   url: "http://10.0.0.5:8000/v1",
 *   model: "Qwen/Qwen3Guard-Gen-4B",
 *   apiKey: "token-abc123",
 *   maxOutstanding: 32,
 * };
 * const resolved = resolveEngineOptions({ remote: { backends: [vllm] } });
 * console.log(resolved.remote?.backends[0]?.name, resolved.remote?.backends[0]?.url); // vllm@10.0.0.5:8000 http://10.0.0.5:8000
 * ```
 */
export interface RemoteBackend {
  kind: RemoteBackendKind;
  /** The server's base URL (`http://10.0.0.5:8000`); a trailing `/v1` is dropped. */
  url: string;
  /** Sent as `Authorization: Bearer <apiKey>` (vLLM `--api-key`, llama-server `--api-key`, a qwen3guard tenant key). */
  apiKey?: string;
  /**
   * The name the engine serves the model under: vLLM's `--served-model-name` (default there: the model path),
   * SGLang's and llama-server's are not checked; Ollama needs it (the tag given to `ollama create`).
   */
  model?: string;
  /** Name in metrics and verdicts (default: `kind@host:port`). Names must be unique in a pool. */
  name?: string;
  /** Requests in flight to this backend at most (default 16); more wait in the pool, first come first served. */
  maxOutstanding?: number;
  /**
   * Top log-probabilities asked per generated position (default 20: vLLM's default `--max-logprobs`, Ollama's
   * maximum). Tier probabilities outside the top k are reported as bounds.
   */
  topLogprobs?: number;
  /**
   * Ask for the log-probabilities of the format's own tokens at every position (vLLM's `logprob_token_ids`, SGLang's
   * `token_ids_logprob`, qwen3guard), so every choice of the verdict is decided as the embedded decoder decides it
   * (default true). `false`: the top k only (a tier outside it is then reported as a bound).
   */
  logprobTokenIds?: boolean;
}

/**
 * The remote engines of a guard and how they are used. Every field but `backends` is optional; the defaults are in
 * {@link REMOTE_DEFAULTS}.
 *
 * @example
 * ```ts
 * import { GenGuard, type RemoteOptions } from "qwen3guard";
 *
 * // the tokenizer and template come from the local model files; the model runs on two vLLM servers
 * const remote: RemoteOptions = {
 *   backends: [
 *     { kind: "vllm", url: "http://10.0.0.5:8000", model: "Qwen/Qwen3Guard-Gen-0.6B" },
 *     { kind: "vllm", url: "http://10.0.0.6:8000", model: "Qwen/Qwen3Guard-Gen-0.6B" },
 *   ],
 *   timeoutMs: 10_000,
 * };
 * const guard = await GenGuard.load({ model: "/models/Qwen3Guard-Gen-0.6B", remote });
 * const verdict = await guard.moderatePrompt("How do I bake bread?");
 * console.log(verdict.tier, verdict.remote?.backend); // Safe vllm@10.0.0.5:8000
 * await guard.close();
 * ```
 */
export interface RemoteOptions {
  backends: RemoteBackend[];
  /** One attempt, from sending the request to the last byte of the answer (default 30 000 ms). */
  timeoutMs?: number;
  /** Further attempts after a retryable failure (default 2), on another backend when one can take it. */
  retries?: number;
  /** Wait before the first retry (default 50 ms), doubled for each later one, ±50 % jitter, at most 2 s. */
  backoffMs?: number;
  /** How often each backend's health endpoint is polled (default 5000 ms; 0: never, every backend counts as up). */
  healthIntervalMs?: number;
  /** Consecutive failures that open a backend's circuit (default 5): it gets no request until the cooldown ends. */
  breakerFailures?: number;
  /** How long an open circuit stays open (default 10 000 ms); then one trial request decides (half-open). */
  breakerCooldownMs?: number;
  /**
   * Stream only: the fewest answer tokens one remote decode carries (default 8). The remote backbones recompute
   * the whole sequence on every request (no prefix cache for pooling), so tokens wait up to `chunkWaitMs` to be
   * sent together. See docs/scale-out.md, "Remote backbone: the cost model".
   */
  chunkTokens?: number;
  /** Stream only: the longest a token waits for its chunk to fill (default 100 ms). */
  chunkWaitMs?: number;
  /** A Prometheus registry for the pool's metrics (default: one of its own; the server passes its registry). */
  registry?: Registry;
}

/**
 * The default of every remote-engine option (pool settings, and per backend `maxOutstanding`, `topLogprobs`,
 * `logprobTokenIds`), in one place.
 *
 * @example
 * ```ts
 * import { REMOTE_DEFAULTS } from "qwen3guard";
 *
 * console.log(REMOTE_DEFAULTS.timeoutMs, REMOTE_DEFAULTS.retries, REMOTE_DEFAULTS.topLogprobs); // 30000 2 20
 * ```
 */
export const REMOTE_DEFAULTS = {
  timeoutMs: 30_000,
  retries: 2,
  backoffMs: 50,
  healthIntervalMs: 5000,
  breakerFailures: 5,
  breakerCooldownMs: 10_000,
  chunkTokens: 8,
  chunkWaitMs: 100,
  maxOutstanding: 16,
  topLogprobs: 20,
  logprobTokenIds: true,
} as const;

/** A backend with its defaults filled in and its URL normalised. */
export interface ResolvedRemoteBackend extends Required<Omit<RemoteBackend, "apiKey" | "model">> {
  apiKey: string | undefined;
  model: string | undefined;
}

export interface ResolvedRemoteOptions extends Required<Omit<RemoteOptions, "backends" | "registry">> {
  backends: ResolvedRemoteBackend[];
  registry: Registry | undefined;
}

const positiveInt = (max: number) => z.number().int().min(1).max(max);

const backendSchema = z
  .object({
    kind: z.enum(REMOTE_BACKEND_KINDS, {
      error: `expected one of ${REMOTE_BACKEND_KINDS.map((k) => `"${k}"`).join(", ")}`,
    }),
    url: z.url({ protocol: /^https?$/, error: "expected an http:// or https:// URL" }),
    apiKey: z.string().min(1).optional(),
    model: z.string().min(1).optional(),
    name: z
      .string()
      .regex(/^[A-Za-z0-9@._:/-]{1,128}$/, "expected letters, digits and @ . _ : / - (at most 128)")
      .optional(),
    maxOutstanding: positiveInt(4096).optional(),
    topLogprobs: positiveInt(1000).optional(),
    logprobTokenIds: z.boolean().optional(),
  })
  .strict();

const optionsSchema = z
  .object({
    backends: z.array(backendSchema).min(1, "give at least one backend"),
    timeoutMs: positiveInt(3_600_000).optional(),
    retries: z.number().int().min(0).max(10).optional(),
    backoffMs: z.number().int().min(0).max(60_000).optional(),
    healthIntervalMs: z.number().int().min(0).max(3_600_000).optional(),
    breakerFailures: positiveInt(1000).optional(),
    breakerCooldownMs: positiveInt(3_600_000).optional(),
    chunkTokens: positiveInt(4096).optional(),
    chunkWaitMs: z.number().int().min(0).max(60_000).optional(),
    registry: z.unknown().optional(),
  })
  .strict();

/**
 * The same options as a configuration file gives them (`qwen3guard serve`'s `remote.gen` / `remote.stream`): no
 * registry, and a backend's key may be named by the environment variable holding it (`apiKeyEnv`). Checked with
 * the same rules as the library's; the defaults are filled in by {@link resolveRemoteOptions} only.
 */
export const remoteConfigSchema = optionsSchema.omit({ registry: true }).extend({
  backends: z
    .array(
      backendSchema.extend({
        /** The environment variable holding the key (rather than the key in the file). */
        apiKeyEnv: z
          .string()
          .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "expected an environment variable name")
          .optional(),
      }),
    )
    .min(1, "give at least one backend"),
});

/** Remote options as a configuration file gives them. */
export type RemoteConfig = z.infer<typeof remoteConfigSchema>;

/**
 * The library options of a configuration's remote pool: each `apiKeyEnv` read from `env` (an unset variable is an
 * error: a backend that needs a key would answer 401 on every request).
 */
export function remoteOptionsFromConfig(
  config: RemoteConfig,
  env: Readonly<Record<string, string | undefined>>,
  where: string,
): { ok: true; value: RemoteOptions } | { ok: false; issue: RemoteOptionsIssue } {
  const backends: RemoteBackend[] = [];
  for (const [i, { apiKeyEnv, ...b }] of config.backends.entries()) {
    if (apiKeyEnv !== undefined && b.apiKey === undefined) {
      const key = env[apiKeyEnv];
      if (key === undefined || key === "") {
        return {
          ok: false,
          issue: {
            path: `${where}.backends.${i}.apiKeyEnv`,
            message: `the environment variable ${apiKeyEnv} is not set`,
          },
        };
      }
      backends.push({ ...b, apiKey: key });
    } else {
      backends.push(b);
    }
  }
  return { ok: true, value: { ...config, backends } };
}

/** Why remote options are invalid: the dotted path of the bad key and what is wrong. */
export interface RemoteOptionsIssue {
  path: string;
  message: string;
}

/** The base URL as requests are built from it: no trailing slash, no trailing `/v1`. */
export function normaliseBaseUrl(url: string): string {
  return url.replace(/\/+$/, "").replace(/\/v1$/, "");
}

/**
 * Check remote options and fill in the defaults; returns the first problem instead of throwing (the caller wraps
 * it in its own error type).
 */
export function resolveRemoteOptions(
  options: RemoteOptions,
): { ok: true; value: ResolvedRemoteOptions } | { ok: false; issue: RemoteOptionsIssue } {
  const parsed = optionsSchema.safeParse(options);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const where = ["remote", ...issue.path.map(String)].join(".");
    const detail =
      issue.code === "unrecognized_keys" ? `unknown key(s) ${issue.keys.join(", ")}` : issue.message;
    return { ok: false, issue: { path: where, message: detail } };
  }
  const o = parsed.data;
  const backends = o.backends.map((b): ResolvedRemoteBackend => {
    const url = normaliseBaseUrl(b.url);
    return {
      kind: b.kind,
      url,
      apiKey: b.apiKey,
      model: b.model,
      name: b.name ?? `${b.kind}@${new URL(url).host}`,
      maxOutstanding: b.maxOutstanding ?? REMOTE_DEFAULTS.maxOutstanding,
      topLogprobs: b.topLogprobs ?? REMOTE_DEFAULTS.topLogprobs,
      logprobTokenIds: b.logprobTokenIds ?? REMOTE_DEFAULTS.logprobTokenIds,
    };
  });
  const seen = new Set<string>();
  for (const [i, b] of backends.entries()) {
    if (seen.has(b.name)) {
      return {
        ok: false,
        issue: {
          path: `remote.backends.${i}.name`,
          message: `two backends are named ${JSON.stringify(b.name)}: give each a unique name`,
        },
      };
    }
    seen.add(b.name);
    if (b.kind === "ollama" && b.model === undefined) {
      return {
        ok: false,
        issue: {
          path: `remote.backends.${i}.model`,
          message: "an Ollama backend needs the model's tag (the name given to `ollama create`)",
        },
      };
    }
  }
  if (o.registry !== undefined && !isRegistry(o.registry)) {
    return { ok: false, issue: { path: "remote.registry", message: "expected a prom-client Registry" } };
  }
  return {
    ok: true,
    value: {
      backends,
      timeoutMs: o.timeoutMs ?? REMOTE_DEFAULTS.timeoutMs,
      retries: o.retries ?? REMOTE_DEFAULTS.retries,
      backoffMs: o.backoffMs ?? REMOTE_DEFAULTS.backoffMs,
      healthIntervalMs: o.healthIntervalMs ?? REMOTE_DEFAULTS.healthIntervalMs,
      breakerFailures: o.breakerFailures ?? REMOTE_DEFAULTS.breakerFailures,
      breakerCooldownMs: o.breakerCooldownMs ?? REMOTE_DEFAULTS.breakerCooldownMs,
      chunkTokens: o.chunkTokens ?? REMOTE_DEFAULTS.chunkTokens,
      chunkWaitMs: o.chunkWaitMs ?? REMOTE_DEFAULTS.chunkWaitMs,
      registry: o.registry as Registry | undefined,
    },
  };
}

function isRegistry(value: unknown): value is Registry {
  return (
    typeof value === "object" &&
    value !== null &&
    typeof (value as Partial<Registry>).registerMetric === "function" &&
    typeof (value as Partial<Registry>).getSingleMetric === "function"
  );
}
