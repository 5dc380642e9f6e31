/**
 * The process-wide llama.cpp runtime (node-llama-cpp 3.21.1, prebuilt binaries only).
 *
 * One `Llama` instance per process and GPU choice. node-llama-cpp is imported on first use only: the koffi
 * binding (the default engine) does not need its JavaScript, which costs ~35 MB of memory to load. Threads are always the available cores: node-llama-cpp's
 * default (max(4, cores)) makes ggml's spinning barriers collapse on a 2-core machine (docs/engine.md).
 */
import type { Llama } from "node-llama-cpp";
import { engineThreads } from "./engine-options.js";
import { EngineUnavailableError } from "./load-backend.js";

export type GpuChoice = "auto" | false;

export interface RuntimeOptions {
  /** "auto" uses CUDA/Vulkan/Metal when a prebuilt binary and a device are present, CPU otherwise. */
  gpu?: GpuChoice;
  /** Receives llama.cpp's warnings and errors; silent by default. */
  logger?: (level: string, message: string) => void;
}

const runtimes = new Map<string, Promise<Llama>>();

/** Get (once) the shared llama.cpp runtime. Never compiles or downloads anything. */
export function getLlamaRuntime(options: RuntimeOptions = {}): Promise<Llama> {
  const gpu = options.gpu ?? "auto";
  const key = String(gpu);
  let runtime = runtimes.get(key);
  if (!runtime) {
    runtime = import("node-llama-cpp")
      .then(({ getLlama, LlamaLogLevel }) =>
        getLlama({
          gpu,
          build: "never",
          maxThreads: engineThreads(),
          logLevel: LlamaLogLevel.warn,
          logger: (level, message) => {
            const text = message.trim();
            if (text.length > 0) options.logger?.(String(level), text);
          },
          progressLogs: false,
        }),
      )
      .catch((error: unknown) => {
        runtimes.delete(key);
        const detail = error instanceof Error ? error.message : String(error);
        throw new EngineUnavailableError(
          `could not load llama.cpp's prebuilt binaries (${detail}). Reinstall with "npm ci" so that ` +
            `node-llama-cpp's platform package (@node-llama-cpp/<platform>) is present; nothing is built from source.`,
          { cause: error },
        );
      });
    runtimes.set(key, runtime);
  }
  return runtime;
}
