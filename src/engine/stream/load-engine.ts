/**
 * Pick the hidden-state engine: the koffi binding when its ABI check passes, node-llama-cpp's one-token path
 * otherwise (with a warning), or the one asked for.
 */
import type { HiddenStateEngine, HiddenStateEngineOptions } from "./hidden-state-engine.js";
import { LlamaFfiHiddenStateEngine } from "./llama-ffi-hidden-state-engine.js";
import { NodeLlamaHiddenStateEngine } from "./node-llama-hidden-state-engine.js";

export type EngineChoice = "auto" | "llama-ffi" | "node-llama-cpp";

export interface LoadEngineOptions extends HiddenStateEngineOptions {
  /** "auto" (default): the binding, falling back to node-llama-cpp with a warning; or force one. */
  engine?: EngineChoice;
  /** Receives the fallback warning (default: a process warning). */
  warn?: (message: string) => void;
}

export class EngineUnavailableError extends Error {
  override readonly name = "EngineUnavailableError";
}

export async function loadHiddenStateEngine(options: LoadEngineOptions): Promise<HiddenStateEngine> {
  const choice = options.engine ?? "auto";
  if (choice === "node-llama-cpp") return NodeLlamaHiddenStateEngine.create(options);
  let reason = "";
  const library = await LlamaFfiHiddenStateEngine.loadLibrary(options, (message) => {
    reason = message;
    if (choice === "auto")
      (options.warn ?? ((m: string) => process.emitWarning(m, "LlamaFfiUnavailable")))(message);
  });
  if (library) return LlamaFfiHiddenStateEngine.create(library, options);
  if (choice === "llama-ffi") {
    throw new EngineUnavailableError(
      `engine "llama-ffi" was asked for but ${reason}; use engine "auto" to fall back`,
    );
  }
  return NodeLlamaHiddenStateEngine.create(options);
}
