/**
 * The shipped libllama, loaded through koffi: the entry point of the binding. `LlamaLibrary.load()` never throws
 * for an unusable library: it returns `{ available: false, reason }` so callers can fall back (with a warning) to
 * node-llama-cpp's own API.
 *
 * One library per process: the first successful load picks the build (a GPU build when `gpu` is asked for and one
 * is installed, else the CPU build) and every later load returns that same library, whatever it asks for. Loading
 * a second build would put two copies of ggml in the process, and the second finds no backend device.
 */
import koffi from "koffi";
import { abiMismatches, EXPECTED_ABI, type AbiExpectation } from "./abiCheck.js";
import { findLlamaBinaries, type LlamaBinaries } from "./llamaBinaries.js";
import { callbackType, declareFunctions, structSize, type LlamaNative, type Ptr } from "./llamaAbi.js";
import { LLAMA_HEADER } from "./llamaHeader.generated.js";

export type LlamaLogLevel = "debug" | "info" | "warn" | "error";
export type LlamaLogHandler = (level: LlamaLogLevel, text: string) => void;

export interface LlamaLibraryOptions {
  /** Try GPU builds (CUDA, then Vulkan) before the CPU build. Default false: CPU. */
  gpu?: boolean;
  /**
   * Where llama.cpp's log lines go. `llama_log_set` is process-wide (node-llama-cpp sets it too):
   * "keep" leaves whatever logger is installed; "silent" drops everything; a function receives lines at or above
   * `logLevel`. Default: warnings and errors to stderr.
   */
  log?: "keep" | "silent" | LlamaLogHandler;
  /** Lowest level passed to a `log` function. Default "warn". */
  logLevel?: LlamaLogLevel;
  /** For tests: the ABI the library must match (default: the generated header description). */
  expectedAbi?: AbiExpectation;
}

export type LlamaLibraryLoadResult =
  { available: true; library: LlamaLibrary } | { available: false; reason: string; problems: string[] };

interface Loaded {
  native: LlamaNative;
  binaries: LlamaBinaries;
}

const LEVELS: LlamaLogLevel[] = ["debug", "info", "warn", "error"];
const loadedByPath = new Map<string, Loaded>();
let backendsReady = false;
/** The library every load returns once one has loaded (see the file comment). */
let processLibrary: LlamaLibrary | null = null;
let logCallback: Ptr | null = null;
let logHandler: { handler: LlamaLogHandler; min: number } | null = null;
let lastLevel: LlamaLogLevel = "info";

function levelName(level: number): LlamaLogLevel | null {
  const c = LLAMA_HEADER.constants;
  if (level === c.GGML_LOG_LEVEL_DEBUG) return "debug";
  if (level === c.GGML_LOG_LEVEL_INFO) return "info";
  if (level === c.GGML_LOG_LEVEL_WARN) return "warn";
  if (level === c.GGML_LOG_LEVEL_ERROR) return "error";
  if (level === c.GGML_LOG_LEVEL_CONT) return lastLevel; // continuation of the previous line
  return null;
}

function installLogger(native: LlamaNative, log: LlamaLibraryOptions["log"], minLevel: LlamaLogLevel): void {
  if (log === "keep") return;
  const handler: LlamaLogHandler =
    log === "silent"
      ? () => {}
      : (log ?? ((level, text) => process.stderr.write(`[llama.cpp ${level}] ${text}`)));
  logHandler = { handler, min: LEVELS.indexOf(minLevel) };
  if (logCallback === null) {
    // Registered once and never unregistered: llama.cpp may keep the pointer for the life of the process.
    logCallback = koffi.register((level: number, text: string | null) => {
      const name = levelName(level);
      if (!name || !logHandler || text === null) return;
      lastLevel = name;
      if (LEVELS.indexOf(name) >= logHandler.min) {
        try {
          logHandler.handler(name, text);
        } catch {
          // a logger must never throw into native code
        }
      }
    }, callbackType("ggml_log_callback"));
  }
  native.llama_log_set(logCallback, null);
}

function openLibraries(binaries: LlamaBinaries): Loaded {
  let loaded = loadedByPath.get(binaries.libllama);
  if (!loaded) {
    // libggml first: libllama's RUNPATH ($ORIGIN) resolves to the same file, so both share one ggml.
    const ggml = koffi.load(binaries.libggml);
    const llama = koffi.load(binaries.libllama);
    loaded = { native: declareFunctions(llama, ggml), binaries };
    loadedByPath.set(binaries.libllama, loaded);
  }
  return loaded;
}

/** A loaded, ABI-checked libllama with its backends registered. */
export class LlamaLibrary {
  private constructor(
    /** The raw C API (for the binding's own classes; callers should not need it). */
    readonly native: LlamaNative,
    /** Where the libraries were found. */
    readonly binaries: LlamaBinaries,
    /** `llama_version()`. */
    readonly version: string,
    /** Names of the ggml devices registered (e.g. ["CPU"]). */
    readonly devices: readonly string[],
  ) {}

  /** Load the library, check its ABI and register its backends; never throws for an unusable library. */
  static async load(options: LlamaLibraryOptions = {}): Promise<LlamaLibraryLoadResult> {
    if (processLibrary && options.expectedAbi === undefined) {
      installLogger(processLibrary.native, options.log, options.logLevel ?? "warn");
      return { available: true, library: processLibrary };
    }
    const problems: string[] = [];
    let candidates: LlamaBinaries[];
    try {
      candidates = await findLlamaBinaries(options.gpu ?? false);
    } catch (err) {
      return unavailable(`cannot look for node-llama-cpp's binaries: ${String(err)}`, []);
    }
    if (candidates.length === 0) {
      return unavailable(
        `no prebuilt libllama for ${process.platform}-${process.arch} (is node-llama-cpp installed?)`,
        [],
      );
    }
    for (const binaries of candidates) {
      let loaded: Loaded;
      try {
        loaded = openLibraries(binaries);
      } catch (err) {
        problems.push(`${binaries.packageName}: cannot load ${binaries.libllama}: ${(err as Error).message}`);
        continue;
      }
      const sizes = Object.fromEntries(
        Object.keys(LLAMA_HEADER.structs).map((k) => [k, structSize(k as keyof typeof LLAMA_HEADER.structs)]),
      );
      const mismatches = abiMismatches(loaded.native, sizes, options.expectedAbi ?? EXPECTED_ABI);
      if (mismatches.length > 0) {
        return unavailable(
          `libllama in ${binaries.packageName} does not match the header the binding was generated from ` +
            `(node-llama-cpp ${LLAMA_HEADER.source.nodeLlamaCpp}, llama.cpp ${LLAMA_HEADER.source.llamaCppTag}); ` +
            `regenerate with scripts/extract-llama-header.mjs: ${mismatches.join("; ")}`,
          mismatches,
        );
      }
      const native = loaded.native;
      installLogger(native, options.log, options.logLevel ?? "warn");
      if (!backendsReady) {
        native.llama_backend_init();
        // the CPU backend is a dlopen'ed variant picked for this CPU: register it unless someone (node-llama-cpp) did
        if (Number(native.ggml_backend_reg_count()) === 0)
          native.ggml_backend_load_all_from_path(binaries.dir);
        backendsReady = true;
      }
      const devices: string[] = [];
      const count = Number(native.ggml_backend_dev_count());
      for (let i = 0; i < count; i++) {
        const dev = native.ggml_backend_dev_get(i);
        if (dev) devices.push(native.ggml_backend_dev_name(dev));
      }
      if (devices.length === 0) {
        problems.push(
          `${binaries.packageName}: no ggml backend device could be registered from ${binaries.dir}`,
        );
        continue;
      }
      const library = new LlamaLibrary(native, binaries, native.llama_version(), devices);
      processLibrary ??= library;
      return { available: true, library: processLibrary };
    }
    return unavailable(`no usable libllama: ${problems.join("; ")}`, problems);
  }

  /**
   * The library, or null after reporting why it is unavailable through `warn` (default: a process warning), for
   * callers that fall back to node-llama-cpp's own API.
   */
  static async loadOrWarn(
    options: LlamaLibraryOptions = {},
    warn: (message: string) => void = (m) => process.emitWarning(m, "LlamaFfiUnavailable"),
  ): Promise<LlamaLibrary | null> {
    const r = await LlamaLibrary.load(options);
    if (r.available) return r.library;
    warn(`the llama.cpp binding is unavailable, falling back to node-llama-cpp: ${r.reason}`);
    return null;
  }

  /** Whether this build can offload layers to a GPU. */
  get supportsGpuOffload(): boolean {
    return this.native.llama_supports_gpu_offload();
  }
}

function unavailable(reason: string, problems: string[]): LlamaLibraryLoadResult {
  return { available: false, reason, problems };
}
