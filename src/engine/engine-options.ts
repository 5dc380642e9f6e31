/**
 * One engine configuration for Gen and Stream: the options, their defaults (merged here and nowhere else), and
 * their run-time validation. Both guards take these same fields; the CLI maps its flags onto them.
 */
import os from "node:os";
import { z } from "zod";
import { Qwen3GuardError } from "../core/errors.js";
import {
  resolveRemoteOptions,
  type RemoteOptions,
  type ResolvedRemoteOptions,
} from "./remote/remote-options.js";

/**
 * What runs the model (`EngineOptions.engine`): a llama.cpp integration in this process — `auto` (default),
 * `llama-ffi` (the project's binding) or `node-llama-cpp` (its own API, the fallback), see docs/engine.md — or
 * `remote`: engine servers (vLLM, SGLang, llama-server, Ollama, another qwen3guard server) named in
 * `EngineOptions.remote`, see docs/scale-out.md.
 *
 * @example
 * ```ts
 * import type { EngineBackend, EngineOptions } from "qwen3guard";
 *
 * const engine: EngineBackend = "llama-ffi"; // fail instead of falling back
 * const options: EngineOptions = { engine };
 * console.log(options);
 * ```
 */
export type EngineBackend = "auto" | "llama-ffi" | "node-llama-cpp" | "remote";

/** Levels of llama.cpp's log lines, lowest first (`EngineOptions.logLevel`). */
export type EngineLogLevel = "debug" | "info" | "warn" | "error";

/**
 * Element type of the KV cache (`EngineOptions.kvCache`): `f16` (default, half the memory) or `f32` (per-token
 * probabilities within ~1e-6 of a float32 reference instead of ~1e-3).
 *
 * @example
 * ```ts
 * import type { KvCacheType } from "qwen3guard";
 *
 * const kvCache: KvCacheType = "f32";
 * console.log(kvCache);
 * ```
 */
export type KvCacheType = "f16" | "f32";

/**
 * How a guard runs its model. Every field is optional; the defaults are in {@link ENGINE_DEFAULTS}.
 *
 * @example
 * ```ts
 * import { GenGuard, type EngineOptions } from "qwen3guard";
 *
 * // CPU only, F32 KV cache (probabilities within ~1e-6 of a float32 reference instead of ~1e-3), 4 sequences
 * const engine: EngineOptions = { gpu: "cpu", kvCache: "f32", sequences: 4 };
 * const guard = await GenGuard.load({ model: "/models/Qwen3Guard-Gen-0.6B", ...engine });
 * console.log(guard.info.device, guard.info.kvCache, guard.info.sequences); // cpu f32 4
 * await guard.close();
 * ```
 */
export interface EngineOptions {
  /**
   * `"auto"` (default): the project's FFI binding over node-llama-cpp's prebuilt libllama (`"llama-ffi"`), falling
   * back with a warning to node-llama-cpp's own API (`"node-llama-cpp"`) when the binding's ABI check fails.
   * Naming one forces it (and fails when it cannot load). `"remote"` (implied when `remote` is given): the model
   * runs on the engine servers of `remote`; the tokenizer and the template still come from `model`.
   */
  engine?: EngineBackend;
  /**
   * Remote engines (with `engine: "remote"`, or alone): the backends and the pool's settings. The in-process
   * options (`gpu`, `kvCache`, `threads`...) do not apply to them; `contextSize` still bounds a conversation and
   * `sequences` does not apply (each backend's `maxOutstanding` does). See docs/scale-out.md.
   */
  remote?: RemoteOptions;
  /** `"auto"` (default): a GPU build (CUDA, Vulkan, Metal) when one is installed and a device is present; `"cpu"`. */
  gpu?: "auto" | "cpu";
  /** Positions (tokens) one sequence can hold: a Gen conversation with its verdict, or a Stream prompt with its answer. */
  contextSize?: number;
  /**
   * Sequences: concurrent Gen requests, or Stream sessions open at once. A Stream session holds `contextSize`
   * positions of KV cache; Gen requests share `totalContextSize` (GenGuard; default `contextSize × sequences`).
   */
  sequences?: number;
  /** KV cache element type: `"f16"` (default, half the memory) or `"f32"` (per-token probabilities ~1e-6 of the reference instead of ~1e-3). */
  kvCache?: KvCacheType;
  /** Flash attention: `"auto"` (default: where llama.cpp supports it), `"on"`, `"off"`. On CPU it computes attention in F16. */
  flashAttention?: "auto" | "on" | "off";
  /** Compute threads (default: the cores this process may use; more than the cores makes ggml's spinning threads collapse). */
  threads?: number;
  /** Most tokens per llama.cpp decode (default 512). */
  batchSize?: number;
  /** Tokens per graph computation; `"auto"` (default): the batch size for Gen, 64 for Stream (every position is an output there). */
  ubatchSize?: number | "auto";
  /** Receives llama.cpp's log lines at or above `logLevel` (default: silent). */
  logger?: (level: string, message: string) => void;
  /**
   * Lowest level of llama.cpp's lines passed to `logger` (default `"warn"`: warnings and errors). `"info"` adds
   * what llama.cpp allocates (model, KV, compute and output buffer sizes). The binding only: node-llama-cpp's
   * fallback always passes warnings and errors.
   */
  logLevel?: EngineLogLevel;
  /** Receives the runtime's own warnings, e.g. the fallback to node-llama-cpp (default: process warnings). */
  warn?: (message: string) => void;
}

/**
 * The default of every engine option, in one place (`threads` defaults to the cores this process may use).
 *
 * @example
 * ```ts
 * import { ENGINE_DEFAULTS } from "qwen3guard";
 *
 * console.log(ENGINE_DEFAULTS.contextSize, ENGINE_DEFAULTS.sequences, ENGINE_DEFAULTS.kvCache); // 4096 2 f16
 * ```
 */
export const ENGINE_DEFAULTS = {
  engine: "auto",
  gpu: "auto",
  contextSize: 4096,
  sequences: 2,
  kvCache: "f16",
  flashAttention: "auto",
  batchSize: 512,
  ubatchSize: "auto",
  logLevel: "warn",
} as const satisfies Omit<Required<EngineOptions>, "threads" | "logger" | "warn" | "remote">;

/**
 * Engine options with every default filled in and every value checked: what `resolveEngineOptions` returns.
 *
 * @example
 * ```ts
 * import { resolveEngineOptions, type ResolvedEngineOptions } from "qwen3guard";
 *
 * const resolved: ResolvedEngineOptions = resolveEngineOptions({ sequences: 4 });
 * console.log(resolved.sequences, resolved.batchSize, resolved.threads > 0); // 4 512 true
 * ```
 */
export interface ResolvedEngineOptions extends Required<
  Omit<EngineOptions, "logger" | "ubatchSize" | "remote">
> {
  ubatchSize: number | "auto";
  logger: ((level: string, message: string) => void) | undefined;
  /** Set exactly when `engine` is `"remote"`. */
  remote: ResolvedRemoteOptions | undefined;
}

/**
 * An engine option has a bad value (`GenGuard.load`, `StreamGuard.load`, `resolveEngineOptions`): `key` names the
 * option. Code `ENGINE_OPTIONS_INVALID`.
 *
 * @example
 * ```ts
 * import { EngineOptionsError, resolveEngineOptions } from "qwen3guard";
 *
 * try {
 *   resolveEngineOptions({ sequences: 0 });
 * } catch (error) {
 *   if (error instanceof EngineOptionsError) console.log(error.code, error.key); // ENGINE_OPTIONS_INVALID sequences
 * }
 * ```
 */
export class EngineOptionsError extends Qwen3GuardError {
  constructor(
    readonly key: string,
    message: string,
  ) {
    super("ENGINE_OPTIONS_INVALID", message);
  }
}

const positiveInt = (max: number) => z.number().int().min(1).max(max);

const schema = z.object({
  engine: z.enum(["auto", "llama-ffi", "node-llama-cpp", "remote"]),
  gpu: z.enum(["auto", "cpu"]),
  contextSize: positiveInt(1 << 20),
  sequences: positiveInt(256),
  kvCache: z.enum(["f16", "f32"]),
  flashAttention: z.enum(["auto", "on", "off"]),
  threads: positiveInt(1024),
  batchSize: positiveInt(1 << 16),
  ubatchSize: z.union([z.literal("auto"), positiveInt(1 << 16)]),
  logLevel: z.enum(["debug", "info", "warn", "error"]),
});

/** Threads every context should use: the cores this process may run on. */
export function engineThreads(): number {
  return Math.max(1, os.availableParallelism());
}

/**
 * Fill in the defaults and check every value, e.g. to validate a configuration before loading a model. Unknown keys
 * are ignored (guard options carry others).
 * @throws EngineOptionsError naming the first bad option.
 *
 * @example
 * ```ts
 * import { resolveEngineOptions } from "qwen3guard";
 *
 * resolveEngineOptions({ kvCache: "f32" }).contextSize; // 4096
 * ```
 */
export function resolveEngineOptions(options: EngineOptions = {}): ResolvedEngineOptions {
  const merged = {
    engine: options.engine ?? (options.remote !== undefined ? "remote" : ENGINE_DEFAULTS.engine),
    gpu: options.gpu ?? ENGINE_DEFAULTS.gpu,
    contextSize: options.contextSize ?? ENGINE_DEFAULTS.contextSize,
    sequences: options.sequences ?? ENGINE_DEFAULTS.sequences,
    kvCache: options.kvCache ?? ENGINE_DEFAULTS.kvCache,
    flashAttention: options.flashAttention ?? ENGINE_DEFAULTS.flashAttention,
    threads: options.threads ?? engineThreads(),
    batchSize: options.batchSize ?? ENGINE_DEFAULTS.batchSize,
    ubatchSize: options.ubatchSize ?? ENGINE_DEFAULTS.ubatchSize,
    logLevel: options.logLevel ?? ENGINE_DEFAULTS.logLevel,
  };
  const parsed = schema.safeParse(merged);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const key = String(issue.path[0] ?? "options");
    const got = JSON.stringify((merged as Record<string, unknown>)[key]);
    throw new EngineOptionsError(key, `engine option ${key}: ${describe(key, issue.message)} (got ${got})`);
  }
  for (const key of ["logger", "warn"] as const) {
    if (options[key] !== undefined && typeof options[key] !== "function") {
      throw new EngineOptionsError(key, `engine option ${key}: expected a function`);
    }
  }
  let remote: ResolvedRemoteOptions | undefined;
  if (parsed.data.engine === "remote") {
    if (options.remote === undefined) {
      throw new EngineOptionsError(
        "remote",
        'engine option engine: "remote" needs remote: { backends: [...] } (the engine servers to use)',
      );
    }
    const resolved = resolveRemoteOptions(options.remote);
    if (!resolved.ok) {
      throw new EngineOptionsError(
        resolved.issue.path,
        `engine option ${resolved.issue.path}: ${resolved.issue.message}`,
      );
    }
    remote = resolved.value;
  } else if (options.remote !== undefined) {
    throw new EngineOptionsError(
      "remote",
      `engine option remote: remote backends were given but engine is "${parsed.data.engine}": drop one of them`,
    );
  }
  return {
    ...parsed.data,
    remote,
    logger: options.logger,
    warn: options.warn ?? ((m: string) => process.emitWarning(m, "Qwen3GuardEngine")),
  };
}

function describe(key: string, zodMessage: string): string {
  switch (key) {
    case "engine":
      return 'expected "auto", "llama-ffi", "node-llama-cpp" or "remote"';
    case "gpu":
      return 'expected "auto" or "cpu"';
    case "kvCache":
      return 'expected "f16" or "f32"';
    case "flashAttention":
      return 'expected "auto", "on" or "off"';
    case "ubatchSize":
      return 'expected "auto" or a positive integer';
    case "logLevel":
      return 'expected "debug", "info", "warn" or "error"';
    default:
      return `expected a positive integer (${zodMessage})`;
  }
}

/** The flash-attention setting as llama.cpp's context parameters take it. */
export function flashAttentionOf(options: Pick<ResolvedEngineOptions, "flashAttention">): boolean | "auto" {
  return options.flashAttention === "auto" ? "auto" : options.flashAttention === "on";
}
