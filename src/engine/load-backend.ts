/**
 * The one place that picks the llama.cpp integration for a model, for Gen and Stream alike: the project's FFI
 * binding over node-llama-cpp's prebuilt libllama (one library per process, shared by every guard), or
 * node-llama-cpp's own API when the binding cannot be used and the options allow the fallback.
 */
import { Qwen3GuardError } from "../core/errors.js";
import type { ResolvedEngineOptions } from "./engine-options.js";
import { LlamaLibrary, type LlamaLogLevel } from "./llama-ffi/index.js";

/**
 * The engine asked for cannot run here (`engine: "llama-ffi"` when the binding's ABI check fails, or
 * node-llama-cpp's prebuilt binaries are missing). Leave `engine` at `"auto"` to fall back. Code
 * `ENGINE_UNAVAILABLE`.
 *
 * @example
 * ```ts
 * import { EngineUnavailableError, GenGuard } from "qwen3guard";
 *
 * try {
 *   await (await GenGuard.load({ model: "/models/Qwen3Guard-Gen-0.6B", engine: "llama-ffi" })).close();
 * } catch (error) {
 *   if (error instanceof EngineUnavailableError) console.error("use engine: \"auto\":", error.message);
 *   else throw error;
 * }
 * ```
 */
export class EngineUnavailableError extends Qwen3GuardError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("ENGINE_UNAVAILABLE", message, options);
  }
}

/** How to build an engine on each integration. */
export interface BackendLoaders<T> {
  llamaFfi(library: LlamaLibrary): Promise<T>;
  nodeLlamaCpp(): Promise<T>;
}

/**
 * Load an engine on the integration the options ask for (`options.engine`), falling back from the binding to
 * node-llama-cpp (with a warning through `options.warn`) only under `"auto"`.
 * @throws EngineUnavailableError when `engine: "llama-ffi"` is asked for and the binding cannot load.
 */
export async function loadOnBackend<T>(
  options: ResolvedEngineOptions,
  loaders: BackendLoaders<T>,
): Promise<T> {
  if (options.engine === "node-llama-cpp") return loaders.nodeLlamaCpp();
  const logger = options.logger;
  const result = await LlamaLibrary.load({
    gpu: options.gpu === "auto",
    log: logger ? (level: LlamaLogLevel, text: string) => logger(level, text.trimEnd()) : "silent",
    logLevel: options.logLevel,
  });
  if (result.available) return loaders.llamaFfi(result.library);
  if (options.engine === "llama-ffi") {
    throw new EngineUnavailableError(
      `engine "llama-ffi" was asked for but ${result.reason}; use engine "auto" to fall back to node-llama-cpp`,
    );
  }
  options.warn(`the llama.cpp binding is unavailable, falling back to node-llama-cpp: ${result.reason}`);
  return loaders.nodeLlamaCpp();
}

/** The device a model on the binding runs on: "cpu", or the first GPU device's backend name, lower case. */
export function ffiDevice(library: LlamaLibrary, onGpu: boolean): string {
  return onGpu ? (library.devices.find((d) => !/^CPU/i.test(d)) ?? "gpu").toLowerCase() : "cpu";
}
