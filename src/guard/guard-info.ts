/**
 * What a loaded guard tells its users about itself (`guard.info`): the model, how its weights were made, and how
 * the engine runs it. Read-only (frozen), fixed for the guard's life.
 */
import path from "node:path";
import type { KvCacheType } from "../engine/engine-options.js";
import type { StreamLabels } from "../engine/stream/stream-scoring.js";
import type { ResolvedModel } from "../model/resolve-model.js";

/**
 * Which Qwen3Guard model a guard runs (`info.kind`): `gen` or `stream`.
 *
 * @example
 * ```ts
 * import type { GuardInfo, ModelKind } from "qwen3guard";
 *
 * const describe = (info: GuardInfo): string => {
 *   const kind: ModelKind = info.kind;
 *   return kind === "gen" ? "Qwen3Guard-Gen" : "Qwen3Guard-Stream";
 * };
 * console.log(typeof describe);
 * ```
 */
export type ModelKind = "gen" | "stream";

/**
 * How synthetic weights were made (`info.synthetic`): seeded random (`qwen3guard synth`, `synthesizeModel`) or set
 * by hand (the crafted test models). A synthetic model's verdicts mean nothing about safety.
 *
 * @example
 * ```ts
 * import { GenGuard, type SyntheticWeights } from "qwen3guard";
 *
 * const guard = await GenGuard.load({ model: "/models/Qwen3Guard-Gen-0.6B" });
 * const synthetic: SyntheticWeights | undefined = guard.info.synthetic;
 * if (synthetic !== undefined) console.warn(`a ${synthetic} synthetic model: its verdicts mean nothing`);
 * await guard.close();
 * ```
 */
export type SyntheticWeights = "random" | "hand-set";

/**
 * The model a guard loaded (`info.model`): its name, whether it came from the hub cache or a path, where it is,
 * and the GGUF llama.cpp runs.
 *
 * @example
 * ```ts
 * import { GenGuard, type GuardModelInfo } from "qwen3guard";
 *
 * const guard = await GenGuard.load({ model: "/models/Qwen3Guard-Gen-0.6B" });
 * const model: GuardModelInfo = guard.info.model;
 * console.log(model.name, model.source, model.gguf); // Qwen3Guard-Gen-0.6B path /…/cache/….gguf
 * await guard.close();
 * ```
 */
export interface GuardModelInfo {
  /** The hub name (`owner/name`) for a model pulled from the hub, else the folder's or file's base name. */
  readonly name: string;
  /** Where `model` led: `"hub"` (the local hub cache) or `"path"` (a folder or file given directly). */
  readonly source: "hub" | "path";
  /** The model folder, or the GGUF file when one was given. */
  readonly path: string;
  /** The GGUF llama.cpp runs (for Stream: the backbone, without the heads); undefined on remote engines given a folder. */
  readonly gguf: string | undefined;
}

/**
 * What a loaded guard says about itself and how it runs (`guard.info`, read-only, fixed for the guard's life):
 * model, synthetic weights, engine integration, device, context size, sequences, KV cache type. The fields both
 * kinds share; see GenGuardInfo and StreamGuardInfo.
 *
 * @example
 * ```ts
 * import { GenGuard, type GuardInfo } from "qwen3guard";
 *
 * const guard = await GenGuard.load({ model: "/models/Qwen3Guard-Gen-0.6B" });
 * const info: GuardInfo = guard.info;
 * console.log(`${info.model.name} on ${info.engine}/${info.device}, ${info.sequences}×${info.contextSize} positions`);
 * await guard.close();
 * ```
 */
export interface GuardInfo {
  readonly kind: ModelKind;
  readonly model: GuardModelInfo;
  /**
   * Set when the weights are synthetic (`"random"` or `"hand-set"`): such a model proves the plumbing, its
   * verdicts mean nothing about safety. `undefined` for a real checkpoint.
   */
  readonly synthetic: SyntheticWeights | undefined;
  /** The llama.cpp integration running the model, or `"remote"`: engine servers (see `remote`). */
  readonly engine: "llama-ffi" | "node-llama-cpp" | "remote";
  /** Where the layers run: `"cpu"`, or the GPU backend (`"cuda"`, `"vulkan"`, `"metal"`, ...); `"remote"` on remote engines. */
  readonly device: string;
  /** Positions one sequence holds (a Gen conversation with its verdict, a Stream prompt with its answer). */
  readonly contextSize: number;
  /**
   * Sequences: concurrent Gen requests, or Stream sessions open at once. On remote engines: Gen, the requests in
   * flight at most (the backends' `maxOutstanding` summed); Stream, the sessions open at once.
   */
  readonly sequences: number;
  /** Element type of the KV cache (undefined on remote engines: theirs is configured there). */
  readonly kvCache: KvCacheType | undefined;
  /** The engine servers, when `engine` is `"remote"`. */
  readonly remote?: { readonly backends: readonly RemoteBackendInfo[] };
}

/**
 * One engine server of a guard on remote engines, as `guard.info.remote.backends` lists it (no key).
 *
 * @example
 * ```ts
 * import { GenGuard, type RemoteBackendInfo } from "qwen3guard";
 *
 * const guard = await GenGuard.load({
 *   model: "/models/Qwen3Guard-Gen-0.6B",
 *   remote: { backends: [{ kind: "sglang", url: "http://10.0.0.7:30000" }] },
 * });
 * const backends: readonly RemoteBackendInfo[] = guard.info.remote?.backends ?? [];
 * console.log(backends.map((b) => `${b.name} ${b.kind} ${b.url}`)); // ["sglang@10.0.0.7:30000 sglang http://10.0.0.7:30000"]
 * await guard.close();
 * ```
 */
export interface RemoteBackendInfo {
  /** `RemoteBackend.name` (default `kind@host:port`): the name in verdicts and metrics. */
  readonly name: string;
  /** `"vllm"`, `"sglang"`, `"llama-server"`, `"ollama"` or `"qwen3guard"`. */
  readonly kind: string;
  /** The base URL requests are built from (no trailing `/v1`). */
  readonly url: string;
}

/**
 * `GenGuard.info`: GuardInfo with `kind: "gen"`.
 *
 * @example
 * ```ts
 * import { GenGuard, type GenGuardInfo } from "qwen3guard";
 *
 * const guard = await GenGuard.load({ model: "/models/Qwen3Guard-Gen-0.6B" });
 * const info: GenGuardInfo = guard.info;
 * console.log(info.kind, info.kvCache); // gen f16
 * await guard.close();
 * ```
 */
export interface GenGuardInfo extends GuardInfo {
  readonly kind: "gen";
}

/**
 * `StreamGuard.info`: GuardInfo with `kind: "stream"` and the class names of the heads (from config.json).
 *
 * @example
 * ```ts
 * import { StreamGuard, type StreamGuardInfo } from "qwen3guard";
 *
 * const guard = await StreamGuard.load({ model: "/models/Qwen3Guard-Stream-0.6B" });
 * const info: StreamGuardInfo = guard.info;
 * console.log(info.kind, info.labels.responseCategories); // stream [...]
 * await guard.close();
 * ```
 */
export interface StreamGuardInfo extends GuardInfo {
  readonly kind: "stream";
  /** The class names of both head paths, as the checkpoint's config.json gives them. */
  readonly labels: Readonly<StreamLabels>;
}

/** The model part of `info`, from what the model spec resolved to. */
export function modelInfo(resolved: ResolvedModel, gguf: string | undefined): GuardModelInfo {
  const where = resolved.kind === "gguf" ? resolved.file : resolved.dir;
  const hub = resolved.source.type === "hub" ? resolved.source.repo : undefined;
  return {
    name: hub ?? path.basename(where),
    source: hub === undefined ? "path" : "hub",
    path: where,
    gguf,
  };
}

/** The synthetic marker of the model files, as `info` reports it. */
export function syntheticInfo(marker: string | undefined): SyntheticWeights | undefined {
  if (marker === undefined) return undefined;
  return marker === "hand-set" ? "hand-set" : "random";
}

/** Freeze an info object and everything in it. */
export function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === "object" && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}
