/**
 * `qwen3guard/testing`: models to test an application's moderation flow without downloading weights. They have
 * the official checkpoint layout and Qwen3's real tokenizer, so GenGuard and StreamGuard load them like real
 * checkpoints (the CLI warns that their verdicts mean nothing about safety).
 *
 * - `synthesizeModel`: seeded random weights in a real shape (what `qwen3guard synth` writes).
 * - `writeCraftedGenModel`: a Gen model whose prompt-moderation verdict is known in advance (Unsafe, Violent when
 *   a trigger word occurs, Safe otherwise).
 * - `writeCraftedStreamModel`: a Stream model that flags chosen answer words Unsafe or Controversial and a
 *   prompt holding a chosen word Unsafe.
 */
export { synthesizeModel, type SynthesizeOptions, type SynthesizeResult } from "../model/synth/synthesize.js";
export type { WriteProgress } from "../model/synth/write-folder.js";
export {
  SYNTH_KINDS,
  SYNTH_SHAPES,
  type SynthKind,
  type SynthShape,
  type SynthDtype,
} from "../model/synth/presets.js";
export { SynthError } from "../model/synth/tokenizer-files.js";
export {
  writeCraftedGenModel,
  craftedGenTrigger,
  CRAFTED_GEN_DEFAULT_TRIGGER,
  type CraftedGenOptions,
  type CraftedGenTrigger,
} from "../model/synth/crafted-gen.js";
export {
  writeCraftedStreamModel,
  CRAFTED_STREAM_DEFAULTS,
  type CraftedStreamOptions,
  type CraftedStreamTriggers,
  type CraftedStreamTriggerSet,
} from "../model/synth/crafted-stream.js";
