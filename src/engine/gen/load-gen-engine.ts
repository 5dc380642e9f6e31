/** Build the Gen engine the options ask for, on the integration `loadOnBackend` picks. */
import { loadOnBackend } from "../load-backend.js";
import { FfiGenEngine } from "./ffi-gen-engine.js";
import type { GenEngine, GenEngineOptions } from "./gen-engine.js";
import { LlamaGenEngine } from "./llama-gen-engine.js";

export function loadGenEngine(options: GenEngineOptions): Promise<GenEngine> {
  return loadOnBackend<GenEngine>(options, {
    llamaFfi: (library) => FfiGenEngine.load(library, options),
    nodeLlamaCpp: () => LlamaGenEngine.load(options),
  });
}
