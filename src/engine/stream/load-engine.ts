/** Build the hidden-state engine the options ask for, on the integration `loadOnBackend` picks. */
import { loadOnBackend } from "../load-backend.js";
import type { HiddenStateEngine, HiddenStateEngineOptions } from "./hidden-state-engine.js";
import { LlamaFfiHiddenStateEngine } from "./llama-ffi-hidden-state-engine.js";
import { NodeLlamaHiddenStateEngine } from "./node-llama-hidden-state-engine.js";

export function loadHiddenStateEngine(options: HiddenStateEngineOptions): Promise<HiddenStateEngine> {
  return loadOnBackend<HiddenStateEngine>(options, {
    llamaFfi: (library) => LlamaFfiHiddenStateEngine.create(library, options),
    nodeLlamaCpp: () => NodeLlamaHiddenStateEngine.create(options),
  });
}
