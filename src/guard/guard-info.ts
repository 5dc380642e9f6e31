/**
 * What a loaded guard tells its users about itself (`guard.info`): the model, how its weights were made, and how
 * the engine runs it. Read-only (frozen), fixed for the guard's life.
 */
import path from "node:path";
import type { KvCacheType } from "../engine/engine-options.js";
import type { StreamLabels } from "../engine/stream/stream-scoring.js";
import type { ResolvedModel } from "../model/resolve-model.js";

/** Which Qwen3Guard model a guard runs. */
export type ModelKind = "gen" | "stream";

/** How synthetic weights were made: seeded random (`qwen3guard synth`) or set by hand (crafted test models). */
export type SyntheticWeights = "random" | "hand-set";

/** The model a guard loaded. */
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

/** Everything a guard's `info` holds, for both kinds. */
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

/** One engine server of a guard on remote engines. */
export interface RemoteBackendInfo {
  readonly name: string;
  readonly kind: string;
  readonly url: string;
}

export interface GenGuardInfo extends GuardInfo {
  readonly kind: "gen";
}

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
