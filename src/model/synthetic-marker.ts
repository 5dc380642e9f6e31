/**
 * Checkpoints written by `qwen3guard synth` (random weights) or by the crafted-model builders (hand-set weights)
 * carry a marker, so every surface can say that their verdicts mean nothing. The converter copies it into GGUF
 * metadata.
 */
import fs from "node:fs";
import path from "node:path";
import { readGgufScalars } from "./gguf/gguf-reader.js";

/** config.json key: `{ "weights": "random" | "hand-set", "seed"?: number }`. */
export const SYNTHETIC_CONFIG_KEY = "qwen3guard_synthetic";
/** GGUF metadata key (string: how the weights were made). */
export const SYNTHETIC_GGUF_KEY = "qwen3guard.synthetic";

export function syntheticMarkerOf(config: Record<string, unknown>): string | undefined {
  const marker = config[SYNTHETIC_CONFIG_KEY];
  if (marker === undefined || marker === null || marker === false) return undefined;
  const weights = (marker as { weights?: unknown }).weights;
  return typeof weights === "string" ? weights : "random";
}

/** How a model folder's or GGUF file's weights were made, when it is synthetic; undefined for real models. */
export function syntheticWeightsOf(model: string): string | undefined {
  try {
    if (fs.statSync(model).isDirectory()) {
      const config = JSON.parse(fs.readFileSync(path.join(model, "config.json"), "utf8")) as Record<
        string,
        unknown
      >;
      return syntheticMarkerOf(config);
    }
    const value = readGgufScalars(model).get(SYNTHETIC_GGUF_KEY); // the vocabulary is skipped
    return value?.type === "string" ? value.value : undefined;
  } catch {
    return undefined;
  }
}
