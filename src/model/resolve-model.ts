/**
 * What `--model` names, decided by what is on disk:
 *   1. an existing folder → a Hugging Face snapshot (must hold config.json and safetensors weights);
 *   2. an existing file → a GGUF model (checked by its magic bytes);
 *   3. otherwise `owner/name[@revision]` → the snapshot pulled earlier into the cache, or pulled now when
 *      `allowDownload` is set; otherwise an error telling the user to run `qwen3guard pull NAME`.
 * An existing relative path always wins over a hub name of the same spelling.
 * For a folder, config.json's `architectures` tells a Gen (Qwen3ForCausalLM) from a Stream (Qwen3ForGuardModel)
 * checkpoint; the full config schema lives in hf-config.ts.
 */
import fs from "node:fs";
import { Qwen3GuardError } from "../core/errors.js";
import os from "node:os";
import path from "node:path";
import { CAUSAL_LM_ARCHITECTURE, GUARD_ARCHITECTURE } from "./hf-config.js";
import { findCachedSnapshot } from "./hub/hub-cache.js";
import { resolveHubSettings, type HubConnectionOptions } from "./hub/hub-settings.js";
import { pullModel, type PullOptions } from "./hub/pull-model.js";
import { looksLikeRepoName, parseRepoName } from "./hub/repo-name.js";
import { supplyByPathHint } from "./hub/errors.js";

/** gen: Qwen3Guard-Gen (Qwen3ForCausalLM); stream: Qwen3Guard-Stream (Qwen3ForGuardModel). */
export type ModelFlavor = "gen" | "stream" | "unknown";

export type ModelSource =
  { type: "path" } | { type: "hub"; repo: string; revision: string; commit: string; downloaded: boolean };

export type ResolvedModel =
  | {
      kind: "hf-folder";
      dir: string;
      flavor: ModelFlavor;
      /** config.json `architectures` as written. */
      architectures: string[];
      /** Tokenizer/template files a complete snapshot has but this folder lacks (not fatal). */
      missingOptional: string[];
      source: ModelSource;
    }
  | { kind: "gguf"; file: string; source: ModelSource };

export interface ResolveModelOptions extends HubConnectionOptions, Pick<PullOptions, "onProgress" | "gguf"> {
  /** Pull a hub name that is not cached yet (network). Default false: only the cache is consulted. */
  allowDownload?: boolean;
  /** Revision for a hub name; overrides `name@revision`. */
  revision?: string;
}

/**
 * Why a model spec names nothing usable (`ModelSpecError.reason`); each reason has its own code (`not-found`:
 * MODEL_NOT_FOUND, `incomplete-folder`: MODEL_FOLDER_INCOMPLETE, `bad-config`: MODEL_CONFIG_INVALID, `not-gguf`:
 * MODEL_NOT_GGUF, `not-cached`: MODEL_NOT_CACHED, `bad-spec`: MODEL_SPEC_INVALID).
 *
 * @example
 * ```ts
 * import type { ModelSpecErrorReason } from "qwen3guard";
 *
 * const advice: Partial<Record<ModelSpecErrorReason, string>> = { "not-cached": "run `qwen3guard pull NAME` first" };
 * console.log(advice["not-cached"]);
 * ```
 */
export type ModelSpecErrorReason =
  "not-found" | "incomplete-folder" | "bad-config" | "not-gguf" | "not-cached" | "bad-spec";

const MODEL_SPEC_CODES: Record<ModelSpecErrorReason, string> = {
  "not-found": "MODEL_NOT_FOUND",
  "incomplete-folder": "MODEL_FOLDER_INCOMPLETE",
  "bad-config": "MODEL_CONFIG_INVALID",
  "not-gguf": "MODEL_NOT_GGUF",
  "not-cached": "MODEL_NOT_CACHED",
  "bad-spec": "MODEL_SPEC_INVALID",
};

/**
 * The `model` given to `GenGuard.load` or `StreamGuard.load` names nothing usable: no such file or folder, an
 * incomplete folder, a bad config.json, a file that is not a GGUF, a hub name never pulled. `reason` says why,
 * `code` is the stable code (MODEL_NOT_FOUND, MODEL_NOT_CACHED...).
 *
 * @example
 * ```ts
 * import { GenGuard, ModelSpecError } from "qwen3guard";
 *
 * try {
 *   await GenGuard.load({ model: "/no/such/model" });
 * } catch (error) {
 *   if (error instanceof ModelSpecError) console.log(error.code, error.reason); // MODEL_NOT_FOUND not-found
 * }
 * ```
 */
export class ModelSpecError extends Qwen3GuardError {
  constructor(
    readonly reason: ModelSpecErrorReason,
    message: string,
  ) {
    super(MODEL_SPEC_CODES[reason], message);
  }
}

const GGUF_MAGIC = "GGUF";
const OPTIONAL_FILES = ["tokenizer.json", "tokenizer_config.json"];

/**
 * @throws ModelSpecError for anything wrong with the spec or the files it names; the hub errors of pullModel
 *         when `allowDownload` is set and the download fails.
 */
export async function resolveModel(spec: string, opts: ResolveModelOptions = {}): Promise<ResolvedModel> {
  const trimmed = spec.trim();
  if (trimmed === "") throw new ModelSpecError("bad-spec", `--model is empty: ${usage()}`);
  const local = expandHome(trimmed);
  const stat = statOrNull(local);
  if (stat?.isDirectory()) return inspectFolder(path.resolve(local), { type: "path" });
  if (stat?.isFile()) return { kind: "gguf", file: checkGguf(path.resolve(local)), source: { type: "path" } };
  if (stat) throw new ModelSpecError("bad-spec", `${local} is neither a file nor a folder`);

  if (looksLikePath(trimmed) || !looksLikeRepoName(trimmed)) {
    throw new ModelSpecError(
      looksLikePath(trimmed) ? "not-found" : "bad-spec",
      looksLikePath(trimmed)
        ? `no such file or folder: ${local}`
        : `"${trimmed}" is neither an existing path nor a hub name: ${usage()}`,
    );
  }

  const ref = parseRepoName(trimmed, opts.revision);
  const settings = resolveHubSettings(opts);
  const cached = findCachedSnapshot(settings.cacheDir, ref);
  if (cached) {
    const source: ModelSource = {
      type: "hub",
      repo: ref.repo,
      revision: ref.revision,
      commit: cached.commit,
      downloaded: false,
    };
    if (cached.kind === "gguf" && cached.ggufFile)
      return { kind: "gguf", file: checkGguf(cached.ggufFile), source };
    return inspectFolder(cached.dir, source);
  }
  if (!opts.allowDownload) {
    const name = `${ref.repo}${ref.explicitRevision ? `@${ref.revision}` : ""}`;
    throw new ModelSpecError(
      "not-cached",
      `${name} is not in the model cache (${path.join(settings.cacheDir, "hub")}). ` +
        `Run \`qwen3guard pull ${name}\` first, or ${supplyByPathHint(ref.repo)}`,
    );
  }
  const pulled = await pullModel(trimmed, opts);
  const source: ModelSource = {
    type: "hub",
    repo: pulled.repo,
    revision: pulled.revision,
    commit: pulled.commit,
    downloaded: !pulled.fromCache,
  };
  if (pulled.kind === "gguf" && pulled.ggufFile)
    return { kind: "gguf", file: checkGguf(pulled.ggufFile), source };
  return inspectFolder(pulled.dir, source);
}

/** Check a Hugging Face snapshot folder and read its architecture. */
export function inspectFolder(dir: string, source: ModelSource = { type: "path" }): ResolvedModel {
  const names = new Set(fs.readdirSync(dir));
  const missing: string[] = [];
  if (!names.has("config.json")) missing.push("config.json");
  missing.push(...missingWeights(dir, names));
  if (missing.length > 0) {
    const ggufs = [...names].filter((n) => n.toLowerCase().endsWith(".gguf"));
    const hint =
      ggufs.length > 0
        ? ` It holds ${ggufs.join(", ")}: pass that file with --model ${path.join(dir, ggufs[0]!)}.`
        : " A Qwen3Guard-Gen or -Stream snapshot has config.json, tokenizer.json, tokenizer_config.json and " +
          "model.safetensors (or model.safetensors.index.json with its shards).";
    throw new ModelSpecError(
      "incomplete-folder",
      `${dir} is not a complete Hugging Face model folder: missing ${missing.join(", ")}.${hint}`,
    );
  }
  const architectures = readArchitectures(path.join(dir, "config.json"));
  const flavor: ModelFlavor = architectures.includes(GUARD_ARCHITECTURE)
    ? "stream"
    : architectures.includes(CAUSAL_LM_ARCHITECTURE)
      ? "gen"
      : "unknown";
  return {
    kind: "hf-folder",
    dir,
    flavor,
    architectures,
    missingOptional: OPTIONAL_FILES.filter((f) => !names.has(f)),
    source,
  };
}

function missingWeights(dir: string, names: Set<string>): string[] {
  if (names.has("model.safetensors.index.json")) {
    let weightMap: unknown;
    try {
      weightMap = JSON.parse(
        fs.readFileSync(path.join(dir, "model.safetensors.index.json"), "utf8"),
      ).weight_map;
    } catch (error) {
      throw new ModelSpecError(
        "bad-config",
        `${path.join(dir, "model.safetensors.index.json")} is not valid JSON (${(error as Error).message})`,
      );
    }
    const shards = new Set(
      Object.values(weightMap && typeof weightMap === "object" ? weightMap : {}).map(String),
    );
    if (shards.size === 0)
      return ["the shards listed in model.safetensors.index.json (its weight_map is empty)"];
    return [...shards].filter((s) => !names.has(s)).sort();
  }
  return [...names].some((n) => n.endsWith(".safetensors")) ? [] : ["model weights (*.safetensors)"];
}

function readArchitectures(configFile: string): string[] {
  let json: unknown;
  try {
    json = JSON.parse(fs.readFileSync(configFile, "utf8"));
  } catch (error) {
    throw new ModelSpecError("bad-config", `${configFile} is not valid JSON (${(error as Error).message})`);
  }
  const archs = (json as { architectures?: unknown })?.architectures;
  return Array.isArray(archs) ? archs.filter((a): a is string => typeof a === "string") : [];
}

/** Returns `file` when it starts with the GGUF magic; otherwise explains what to pass instead. */
function checkGguf(file: string): string {
  const head = Buffer.alloc(4);
  const fd = fs.openSync(file, "r");
  let n: number;
  try {
    n = fs.readSync(fd, head, 0, 4, 0);
  } finally {
    fs.closeSync(fd);
  }
  if (n === 4 && head.toString("latin1") === GGUF_MAGIC) return file;
  const base = path.basename(file);
  const hint =
    base === "config.json" || base.endsWith(".safetensors")
      ? ` For a Hugging Face checkpoint pass its folder: --model ${path.dirname(file)}.`
      : "";
  throw new ModelSpecError(
    "not-gguf",
    `${file} is not a GGUF file (it does not start with the bytes "GGUF")${base.toLowerCase().endsWith(".gguf") ? "; it may be truncated or corrupt" : ""}.${hint}`,
  );
}

function looksLikePath(spec: string): boolean {
  return (
    spec === "." ||
    spec === ".." ||
    /^(\.{1,2}[/\\]|[/\\~])/.test(spec) ||
    /^[A-Za-z]:[/\\]/.test(spec) ||
    spec.includes("\\") ||
    spec.toLowerCase().endsWith(".gguf") ||
    spec.split("/").length > 2
  );
}

function expandHome(p: string): string {
  return p === "~" || p.startsWith("~/") ? path.join(os.homedir(), p.slice(1)) : p;
}

function statOrNull(p: string): fs.Stats | null {
  try {
    return fs.statSync(p);
  } catch {
    return null;
  }
}

function usage(): string {
  return (
    "pass a Hugging Face model folder (--model /path/to/model-folder), a GGUF file (--model file.gguf), " +
    "or a hub name (--model Qwen/Qwen3Guard-Gen-0.6B or Qwen/Qwen3Guard-Stream-0.6B, fetched with `qwen3guard pull`)"
  );
}
