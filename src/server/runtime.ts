/**
 * What a running server holds: the guards, the tenants' policies, API keys, metrics, the audit log and the
 * upstream settings — built from a ServerConfig by `loadServerRuntime`, shared by every route, closed once.
 */
import os from "node:os";
import path from "node:path";
import { emptyPolicy, type Policy } from "../core/policy/index.js";
import { GenGuard } from "../guard/gen-guard.js";
import { PolicyRegistry } from "../guard/policy/registry.js";
import { StreamGuard } from "../guard/stream-guard.js";
import { writeCraftedGenModel } from "../model/synth/crafted-gen.js";
import { writeCraftedStreamModel } from "../model/synth/crafted-stream.js";
import { resolveCacheDir } from "../model/cache-dir.js";
import { AuditLog } from "./audit-log.js";
import { ApiKeyAuth, DEFAULT_TENANT } from "./auth.js";
import { ServerConfigError, upstreamApiKey, type ServerConfig } from "./config.js";
import { remoteOptionsFromConfig } from "../engine/remote/remote-options.js";
import { GuardQueue } from "./guard-queue.js";
import { ServerMetrics } from "./metrics.js";

/** The label every response and log line of a `--demo` server carries. */
export const DEMO_LABEL =
  "demo: hand-set toy models (qwen3guard synth --crafted); their verdicts mean nothing about safety";

/** A stream the server can end early at shutdown (a proxy stream or a WebSocket session). */
export interface OpenStream {
  /** End it now with a final frame saying why. */
  end(reason: "shutdown"): void;
  /** Settles when the stream is fully closed. */
  readonly done: Promise<void>;
}

/** The words that make the `--demo` toy models flag a text. */
export interface DemoTriggers {
  /** Gen: a prompt or answer holding this word is Unsafe (Violent). */
  genTrigger: string;
  /** Stream: answer words judged Unsafe / Controversial (two in a row trigger). */
  streamUnsafeWords: string[];
  streamControversialWords: string[];
  /** Stream: a prompt holding one of these is Unsafe. */
  promptTriggerWords: string[];
}

/** The upstream LLM the proxy moderates. */
export interface UpstreamSettings {
  /** Base URL ending in /v1 (e.g. http://127.0.0.1:8000/v1). */
  url: string;
  apiKey: string | undefined;
  timeoutMs: number;
}

export class ServerRuntime {
  /** Streams open now (for metrics and graceful shutdown). */
  readonly streams = new Set<OpenStream>();
  /**
   * The bounded queues in front of the guards: `gen` runs Gen requests (as many at once as the engine has
   * sequences), `stream` hands out Stream session slots (`hold`). Full → 429 with Retry-After.
   */
  readonly queues: { gen?: GuardQueue; stream?: GuardQueue };
  #draining = false;
  #drain: Promise<void> | undefined;
  #retention: NodeJS.Timeout | undefined;

  constructor(
    readonly config: ServerConfig,
    readonly gen: GenGuard | undefined,
    readonly stream: StreamGuard | undefined,
    readonly auth: ApiKeyAuth,
    readonly metrics: ServerMetrics,
    readonly audit: AuditLog | undefined,
    private readonly policies: PolicyRegistry | undefined,
    /** Tenants whose policy is the built-in table (no file). */
    private readonly builtinTenants: ReadonlySet<string>,
    /** Set when the models are synthetic: "hand-set" (--demo) or "random". */
    readonly synthetic: string | undefined,
    /** With --demo: the words that make the toy models flag a text. */
    readonly demo: DemoTriggers | undefined = undefined,
  ) {
    const limits = config.limits;
    const depth = (model: string) => (n: number) => metrics.queueDepth.set({ model }, n);
    this.queues = {
      ...(gen
        ? {
            gen: new GuardQueue({
              name: "Gen",
              capacity: gen.info.sequences,
              maxWaiting: limits.queueSize,
              retryAfterSeconds: limits.retryAfterSeconds,
              onDepth: depth("gen"),
            }),
          }
        : {}),
      ...(stream
        ? {
            stream: new GuardQueue({
              name: "Stream",
              capacity: stream.info.sequences,
              maxWaiting: limits.streamQueueSize,
              retryAfterSeconds: limits.retryAfterSeconds,
              onDepth: depth("stream"),
            }),
          }
        : {}),
    };
    if (gen) metrics.queueDepth.set({ model: "gen" }, 0);
    if (stream) metrics.queueDepth.set({ model: "stream" }, 0);
    // retention: pruned at start (loadServerRuntime) and then daily
    const days = config.audit.retentionDays;
    if (audit && days > 0) {
      this.#retention = setInterval(() => {
        try {
          audit.prune(days);
        } catch {
          // the next day tries again; a broken log shows on the next write, which refuses its request
        }
      }, 86_400_000);
      this.#retention.unref();
    }
  }

  /** The upstream LLM, when one is configured. */
  get upstream(): UpstreamSettings | undefined {
    const url = this.config.upstream.url;
    if (url === undefined) return undefined;
    return {
      url: url.replace(/\/+$/, ""),
      apiKey: upstreamApiKey(this.config),
      timeoutMs: this.config.upstream.timeoutMs,
    };
  }

  /** Whether the server is shutting down (not ready, accepts no new streams). */
  get draining(): boolean {
    return this.#draining;
  }

  /** The policy in force for a tenant now (files are re-read on change when watching). */
  policyFor(tenant: string): Policy {
    if (this.builtinTenants.has(tenant) || this.policies === undefined) return BUILTIN_POLICY;
    return this.policies.get(tenant);
  }

  /** Every tenant with a policy: the default one and the configured ones. */
  tenants(): string[] {
    return [...new Set([DEFAULT_TENANT, ...Object.keys(this.config.tenants)])];
  }

  /** Whether a tenant's policy is the built-in table (no policy file). */
  hasBuiltinPolicy(tenant: string): boolean {
    return this.builtinTenants.has(tenant) || this.policies === undefined;
  }

  /** Track a stream until it is done. */
  track(stream: OpenStream): void {
    this.streams.add(stream);
    this.metrics.openSessions.set(this.streams.size);
    void stream.done.finally(() => {
      this.streams.delete(stream);
      this.metrics.openSessions.set(this.streams.size);
    });
  }

  /**
   * Stop taking new streams, give open ones `graceSeconds` to finish, then end the rest with a final frame.
   * Idempotent: a second call returns the first one's promise.
   */
  drain(graceSeconds: number): Promise<void> {
    this.#drain ??= this.#drainStreams(graceSeconds);
    return this.#drain;
  }

  async #drainStreams(graceSeconds: number): Promise<void> {
    this.#draining = true;
    const all = Promise.allSettled([...this.streams].map((s) => s.done));
    const timer = new Promise<"timeout">((resolve) =>
      setTimeout(() => resolve("timeout"), graceSeconds * 1000).unref(),
    );
    if ((await Promise.race([all, timer])) === "timeout") {
      for (const s of this.streams) s.end("shutdown");
      await Promise.race([all, new Promise((r) => setTimeout(r, 2000).unref())]);
    }
  }

  /** Free the models, stop watching policies, close the audit log. */
  async close(): Promise<void> {
    this.#draining = true;
    clearInterval(this.#retention);
    this.policies?.close();
    await Promise.allSettled([this.gen?.close(), this.stream?.close()]);
    this.audit?.close();
  }
}

const BUILTIN_POLICY: Policy = emptyPolicy();

export interface LoadRuntimeOptions {
  /** Receives progress lines (loading, converting). */
  log?: (line: string) => void;
  /** Receives warnings (policy reload failures, engine fallback). */
  warn?: (line: string) => void;
}

/**
 * Load everything a configuration names: policies first (a broken policy stops the start before any model is
 * loaded), then the models (or the demo models, written once into the cache), the audit log.
 */
export async function loadServerRuntime(
  config: ServerConfig,
  options: LoadRuntimeOptions = {},
): Promise<ServerRuntime> {
  const log = options.log ?? (() => undefined);
  const warn = options.warn ?? ((m: string) => process.emitWarning(m, "Qwen3Guard"));
  // policies: the default tenant and each configured tenant, a file each or the built-in table
  const files: Record<string, string> = {};
  const builtin = new Set<string>();
  const tenantPolicy = (name: string, file: string | undefined) => {
    if (file === undefined) builtin.add(name);
    else files[name] = file;
  };
  tenantPolicy(DEFAULT_TENANT, config.policy);
  for (const [name, tenant] of Object.entries(config.tenants))
    tenantPolicy(name, tenant.policy ?? config.policy);
  const policies = Object.keys(files).length > 0 ? await PolicyRegistry.load(files) : undefined;
  if (policies && config.watchPolicies) {
    policies.watch({
      onReload: (s) => log(`policies reloaded (generation ${s.generation})`),
      onError: (e) => warn(`a policy change was rejected, the previous policies stay in force: ${e.message}`),
    });
  }
  const auth = new ApiKeyAuth(
    Object.fromEntries(Object.entries(config.tenants).map(([n, t]) => [n, t.apiKeys])),
  );
  let gen: GenGuard | undefined;
  let stream: StreamGuard | undefined;
  let audit: AuditLog | undefined;
  let demo: DemoTriggers | undefined;
  // made first: the remote-engine pools register their metrics in it
  const metrics = new ServerMetrics();
  // a configuration's remote pool as the library takes it (keys read from the environment); defaults are filled in
  // by the engine options, as for a library user
  const remote = (which: "gen" | "stream") => {
    const pool = config.remote[which];
    if (pool === undefined) return {};
    const options = remoteOptionsFromConfig(pool, process.env, `remote.${which}`);
    if (!options.ok) {
      throw new ServerConfigError(
        options.issue.path,
        `configuration key ${options.issue.path}: ${options.issue.message}`,
      );
    }
    return { remote: { ...options.value, registry: metrics.registry } };
  };
  try {
    const engine = {
      ...(config.engine.gpu ? { gpu: config.engine.gpu } : {}),
      ...(config.engine.contextSize ? { contextSize: config.engine.contextSize } : {}),
      ...(config.engine.sequences ? { sequences: config.engine.sequences } : {}),
      ...(config.engine.threads ? { threads: config.engine.threads } : {}),
      ...(config.engine.kvCache ? { kvCache: config.engine.kvCache } : {}),
      ...(config.engine.flashAttention ? { flashAttention: config.engine.flashAttention } : {}),
      ...(config.engine.batchSize ? { batchSize: config.engine.batchSize } : {}),
      ...(config.engine.cacheDir ? { cacheDir: config.engine.cacheDir } : {}),
      warn,
    };
    let genModel = config.models.gen;
    let streamModel = config.models.stream;
    let quantization = config.engine.quantization;
    if (config.demo) {
      const dir = path.join(resolveCacheDir(config.engine.cacheDir), "demo");
      log(`demo: writing the toy models into ${dir}`);
      const genToy = writeCraftedGenModel(path.join(dir, "gen"));
      const streamToy = writeCraftedStreamModel(path.join(dir, "stream"));
      genModel = genToy.dir;
      streamModel = streamToy.dir;
      demo = {
        genTrigger: genToy.trigger.word,
        streamUnsafeWords: streamToy.triggers.unsafe.words,
        streamControversialWords: streamToy.triggers.controversial.words,
        promptTriggerWords: streamToy.triggers.prompt.words,
      };
      quantization = "f32"; // the hand-set weights are exact in F32
    }
    if (genModel !== undefined) {
      log(`loading Gen model ${genModel}`);
      gen = await GenGuard.load({
        model: genModel,
        ...engine,
        ...(quantization ? { quantization } : {}),
        ...remote("gen"),
      });
    }
    if (streamModel !== undefined) {
      log(`loading Stream model ${streamModel}`);
      stream = await StreamGuard.load({
        model: streamModel,
        ...(config.models.streamHeads ? { heads: config.models.streamHeads } : {}),
        ...engine,
        ...(quantization ? { quantization } : {}),
        ...remote("stream"),
      });
    }
    if (config.audit.path !== undefined) {
      audit = AuditLog.open(config.audit.path, { storeText: config.audit.storeText });
      if (config.audit.retentionDays > 0) {
        const pruned = audit.prune(config.audit.retentionDays);
        if (pruned > 0)
          log(`audit log: pruned ${pruned} decisions older than ${config.audit.retentionDays} days`);
      }
    }
  } catch (error) {
    policies?.close();
    await Promise.allSettled([gen?.close(), stream?.close()]);
    audit?.close();
    throw error;
  }
  const synthetic = config.demo ? "hand-set" : (gen?.info.synthetic ?? stream?.info.synthetic);
  return new ServerRuntime(config, gen, stream, auth, metrics, audit, policies, builtin, synthetic, demo);
}

/** Where a server listens, for the start-up line. */
export function listenAddress(host: string, port: number): string {
  const shown = host === "0.0.0.0" || host === "::" ? os.hostname() : host.includes(":") ? `[${host}]` : host;
  return `http://${shown}:${port}`;
}
