/**
 * The server's configuration: a YAML (or JSON) file validated with zod (errors name the key), with command-line
 * flags for the common case layered on top. Defaults live here and nowhere else.
 *
 * @example
 * ```yaml
 * # qwen3guard.yaml
 * port: 8080
 * models:
 *   stream: Qwen/Qwen3Guard-Stream-0.6B
 *   gen: Qwen/Qwen3Guard-Gen-0.6B
 * upstream:
 *   url: http://127.0.0.1:8000/v1
 *   apiKeyEnv: UPSTREAM_API_KEY
 * policy: ./policies/default.yaml
 * tenants:
 *   acme:
 *     policy: ./policies/acme.yaml
 *     apiKeys: ["sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"]
 * audit:
 *   path: ./audit.sqlite
 * ```
 */
import fs from "node:fs";
import path from "node:path";
import { parseDocument } from "yaml";
import { z } from "zod";
import { Qwen3GuardError } from "../core/errors.js";
import { DEFAULT_REGENERATE_INSTRUCTION } from "../guard/moderated-stream.js";
import { remoteConfigSchema } from "../engine/remote/remote-options.js";

/** The configuration file (or flags) are invalid: `key` is the dotted path of the first bad key. */
export class ServerConfigError extends Qwen3GuardError {
  constructor(
    readonly key: string,
    message: string,
  ) {
    super("SERVER_CONFIG_INVALID", message);
  }
}

const positiveInt = z.number().int().positive();
/** The upstream's base URL: http or https only (the proxy speaks HTTP to it). */
const httpUrl = z.url({
  protocol: /^https?$/,
  error: "expected an http(s) URL such as http://127.0.0.1:8000/v1",
});

/** What the upstream is told when an answer is rolled back and regenerated (defined with the guard's). */
export { DEFAULT_REGENERATE_INSTRUCTION };

/** An API key as stored in the configuration: `sha256:<64 hex digits>` of the key (never the key itself). */
const hashedKey = z
  .string()
  .regex(
    /^sha256:[0-9a-f]{64}$/,
    "expected sha256:<64 lowercase hex digits> (make one with `qwen3guard hash-key`)",
  );

const tenantSchema = z
  .object({
    /** Policy file of this tenant (relative to the configuration file). Default: the server's `policy`. */
    policy: z.string().min(1).optional(),
    /** Hashed API keys that authenticate as this tenant. */
    apiKeys: z.array(hashedKey).default([]),
  })
  .strict();

const configSchema = z
  .object({
    host: z.string().min(1).default("127.0.0.1"),
    port: z.number().int().min(0).max(65535).default(8080),
    /** Models: either or both (the same resolution as `--model` everywhere: folder, GGUF, hub name). */
    models: z
      .object({
        gen: z.string().min(1).optional(),
        stream: z.string().min(1).optional(),
        /** With a backbone GGUF as `stream`: the Stream heads (folder or .safetensors). */
        streamHeads: z.string().min(1).optional(),
      })
      .strict()
      .prefault({}),
    /** The hand-set deterministic toy models (`synth --crafted`): verdicts mean nothing about safety. */
    demo: z.boolean().default(false),
    /** Engine options for both guards (see docs/engine.md). */
    engine: z
      .object({
        gpu: z.enum(["auto", "cpu"]).optional(),
        contextSize: positiveInt.optional(),
        sequences: positiveInt.optional(),
        /** CPU threads per decode (default: the available cores; 1 on a machine whose cores are busy elsewhere). */
        threads: positiveInt.optional(),
        kvCache: z.enum(["f16", "f32"]).optional(),
        flashAttention: z.enum(["auto", "on", "off"]).optional(),
        batchSize: positiveInt.optional(),
        quantization: z.enum(["q8_0", "f16", "f32"]).optional(),
        cacheDir: z.string().min(1).optional(),
      })
      .strict()
      .prefault({}),
    /** Run a model on engine servers instead of in this process: `gen` and/or `stream` (docs/scale-out.md). */
    remote: z
      .object({ gen: remoteConfigSchema.optional(), stream: remoteConfigSchema.optional() })
      .strict()
      .prefault({}),
    /** The OpenAI-compatible LLM the proxy moderates. */
    upstream: z
      .object({
        url: httpUrl.optional(),
        /** The key itself (prefer apiKeyEnv). */
        apiKey: z.string().min(1).optional(),
        /** Environment variable holding the key (default UPSTREAM_API_KEY when set). */
        apiKeyEnv: z.string().min(1).optional(),
        /** Per upstream request: connect + first byte, and the longest silence mid-stream. */
        timeoutMs: positiveInt.default(60_000),
      })
      .strict()
      .prefault({}),
    /** Default policy file (relative to the configuration file); built-in table when absent. */
    policy: z.string().min(1).optional(),
    /** Tenants by name; an API key maps to one. Without tenants (and without keys) the server needs no key. */
    tenants: z
      .record(z.string().regex(/^[A-Za-z0-9_.-]+$/, "tenant names use letters, digits, _ . -"), tenantSchema)
      .default({}),
    /** Serve the playground page at / and /playground (its API under /v1/guard stays either way). */
    playground: z.boolean().default(true),
    /** Reload policy files when they change. */
    watchPolicies: z.boolean().default(true),
    /** Fail closed: the text the client gets instead of a blocked prompt or answer. */
    refusal: z
      .object({ text: z.string().default("I can't help with that.") })
      .strict()
      .prefault({}),
    /** The regenerate action: continue from the cleared prefix with a safety instruction, then block. */
    regenerate: z
      .object({
        maxAttempts: z.number().int().min(1).max(10).default(2),
        instruction: z.string().min(1).default(DEFAULT_REGENERATE_INSTRUCTION),
        /**
         * Ask the upstream to continue the assistant message holding the answer so far with vLLM's and SGLang's
         * `continue_final_message: true, add_generation_prompt: false` (servers that reject unknown fields, such as
         * OpenAI's, need this off; llama-server and Ollama continue a final assistant message without it).
         */
        continueFinalMessage: z.boolean().default(false),
      })
      .strict()
      .prefault({}),
    limits: z
      .object({
        /** Request body size. */
        bodyBytes: positiveInt.default(1 << 20),
        /** Messages per conversation. */
        messages: positiveInt.default(256),
        /** Characters in all messages together. */
        contentChars: positiveInt.default(200_000),
        /** Inputs per /v1/moderations or /v1/guard/moderate call. */
        batchInputs: positiveInt.default(64),
        /** Whole request (excluding a stream's generation time, bounded by upstream.timeoutMs). */
        requestTimeoutMs: positiveInt.default(120_000),
        /** Gen requests waiting for the engine before 429. */
        queueSize: positiveInt.default(64),
        /** Seconds a client is told to wait after a 429. */
        retryAfterSeconds: positiveInt.default(1),
        /** Open Stream sessions (proxy streams and WebSocket sessions) waiting for a free sequence before 429. */
        streamQueueSize: positiveInt.default(64),
        /** A WebSocket guard session (/v1/guard/stream) with no message from its client for this long is closed. */
        streamIdleSeconds: positiveInt.default(60),
        /** Seconds given to open streams to finish on SIGTERM. */
        shutdownGraceSeconds: positiveInt.default(10),
      })
      .strict()
      .prefault({}),
    audit: z
      .object({
        /** SQLite file (WAL). Absent: no audit log. */
        path: z.string().min(1).optional(),
        /** Store the moderated text itself (default: only its SHA-256). */
        storeText: z.boolean().default(false),
        /** Rows older than this are pruned at start and daily (0: keep forever). */
        retentionDays: z.number().int().min(0).default(30),
      })
      .strict()
      .prefault({}),
    /** pino log level. */
    logLevel: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  })
  .strict();

/** The configuration with every default filled in and relative paths resolved against its file. */
export type ServerConfig = z.infer<typeof configSchema>;

/** What `serve`'s flags can set (each overrides the file). */
export interface ServerFlags {
  host?: string;
  port?: number;
  genModel?: string;
  streamModel?: string;
  streamHeads?: string;
  upstreamUrl?: string;
  upstreamKey?: string;
  policy?: string;
  demo?: boolean;
  auditPath?: string;
  logLevel?: ServerConfig["logLevel"];
  engine?: ServerConfig["engine"];
}

function issuePath(issue: z.core.$ZodIssue): string {
  return issue.path.map(String).join(".") || "(root)";
}

/**
 * Validate a parsed configuration document, apply the flags, resolve relative paths against `baseDir`.
 * @throws ServerConfigError naming the first bad key.
 */
export function parseServerConfig(
  document: unknown,
  flags: ServerFlags = {},
  baseDir = process.cwd(),
): ServerConfig {
  const doc = (document ?? {}) as Record<string, unknown>;
  if (typeof doc !== "object" || Array.isArray(doc)) {
    throw new ServerConfigError("(root)", "the configuration must be a mapping of keys to values");
  }
  const parsed = configSchema.safeParse(doc);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const key = issuePath(issue);
    const detail =
      issue.code === "unrecognized_keys" ? `unknown key(s) ${issue.keys.join(", ")}` : issue.message;
    throw new ServerConfigError(key, `configuration key ${key}: ${detail}`);
  }
  const config = parsed.data;
  const resolve = (p: string | undefined) => (p === undefined ? undefined : path.resolve(baseDir, p));
  const resolveModel = (m: string | undefined) =>
    m === undefined
      ? undefined
      : m.startsWith(".") || m.startsWith("/") || m.startsWith("~")
        ? path.resolve(baseDir, m)
        : m;
  config.models.gen = resolveModel(config.models.gen);
  config.models.stream = resolveModel(config.models.stream);
  config.models.streamHeads = resolve(config.models.streamHeads);
  config.policy = resolve(config.policy);
  for (const tenant of Object.values(config.tenants)) tenant.policy = resolve(tenant.policy);
  config.audit.path = resolve(config.audit.path);
  config.engine.cacheDir = resolve(config.engine.cacheDir);
  // flags win over the file
  if (flags.host !== undefined) config.host = flags.host;
  if (flags.port !== undefined) config.port = flags.port;
  if (flags.genModel !== undefined) config.models.gen = flags.genModel;
  if (flags.streamModel !== undefined) config.models.stream = flags.streamModel;
  if (flags.streamHeads !== undefined) config.models.streamHeads = flags.streamHeads;
  if (flags.upstreamUrl !== undefined) {
    if (!httpUrl.safeParse(flags.upstreamUrl).success) {
      throw new ServerConfigError(
        "upstream.url",
        `--upstream-url ${JSON.stringify(flags.upstreamUrl)}: expected an http(s) URL such as http://127.0.0.1:8000/v1`,
      );
    }
    config.upstream.url = flags.upstreamUrl;
  }
  if (flags.upstreamKey !== undefined) config.upstream.apiKey = flags.upstreamKey;
  if (flags.policy !== undefined) config.policy = flags.policy;
  if (flags.demo !== undefined) config.demo = flags.demo;
  if (flags.auditPath !== undefined) config.audit.path = flags.auditPath;
  if (flags.logLevel !== undefined) config.logLevel = flags.logLevel;
  if (flags.engine) config.engine = { ...config.engine, ...flags.engine };
  if (!config.demo && config.models.gen === undefined && config.models.stream === undefined) {
    throw new ServerConfigError(
      "models",
      "no model to serve: give models.gen and/or models.stream (or --gen-model / --stream-model), or --demo for the toy models",
    );
  }
  if (config.remote.gen && config.models.gen === undefined && !config.demo) {
    throw new ServerConfigError(
      "remote.gen",
      "remote.gen needs models.gen: the tokenizer and template come from the local model files (a folder, GGUF or pulled hub name)",
    );
  }
  if (config.remote.stream && config.models.stream === undefined && !config.demo) {
    throw new ServerConfigError(
      "remote.stream",
      "remote.stream needs models.stream: the heads, labels and tokenizer come from the local model folder",
    );
  }
  if (config.demo && (config.models.gen !== undefined || config.models.stream !== undefined)) {
    throw new ServerConfigError("demo", "--demo serves the built-in toy models: do not give models with it");
  }
  return config;
}

/**
 * Read a configuration file (YAML or JSON) and apply the flags; without a file, the flags alone.
 * @throws ServerConfigError (unreadable file, bad YAML, bad key).
 */
export function loadServerConfig(file: string | undefined, flags: ServerFlags = {}): ServerConfig {
  if (file === undefined) return parseServerConfig({}, flags);
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new ServerConfigError(
      "(file)",
      `${file}: cannot read the configuration (${code === "ENOENT" ? "no such file" : String(error)})`,
    );
  }
  const doc = parseDocument(text, { prettyErrors: true });
  if (doc.errors.length > 0) {
    throw new ServerConfigError(
      "(file)",
      `${file}: not valid YAML: ${doc.errors[0]!.message.split("\n")[0]}`,
    );
  }
  try {
    return parseServerConfig(doc.toJS({ maxAliasCount: 100 }), flags, path.dirname(path.resolve(file)));
  } catch (error) {
    if (error instanceof ServerConfigError)
      throw new ServerConfigError(error.key, `${file}: ${error.message}`);
    throw error;
  }
}

/** The upstream API key: the flag or file value, else the configured environment variable, else UPSTREAM_API_KEY. */
export function upstreamApiKey(
  config: ServerConfig,
  env: NodeJS.ProcessEnv = process.env,
): string | undefined {
  if (config.upstream.apiKey !== undefined) return config.upstream.apiKey;
  if (config.upstream.apiKeyEnv !== undefined) return env[config.upstream.apiKeyEnv];
  return env.UPSTREAM_API_KEY;
}
