/** Synthetic Qwen3 / Qwen3Guard checkpoints: seeded random ones and hand-crafted ones, in the official layout. */
export {
  synthesizeModel,
  synthesizeModelAsync,
  synthTensorValues,
  type SynthesizeOptions,
  type SynthesizeResult,
} from "./synthesize.js";
export {
  writeModelFolder,
  writeCheckpointFolder,
  writeCheckpointFolderAsync,
  type WriteModelFolderOptions,
  type CheckpointFolderOptions,
  type TensorSource,
  type WriteProgress,
} from "./write-folder.js";
export {
  synthConfigJson,
  namesToLabelMap,
  STREAM_LABEL_MAPS,
  SYNTH_KINDS,
  SYNTH_SHAPES,
  QWEN3_VOCAB_SIZE,
  type SynthKind,
  type SynthShape,
  type SynthDtype,
} from "./presets.js";
export {
  checkpointTensors,
  layerTensorNames,
  EMBED_TOKENS,
  FINAL_NORM,
  LM_HEAD,
  STREAM_HEAD_TENSORS,
  type TensorSpec,
} from "./tensor-layout.js";
export { SynthError, genChatTemplate, qwen3ChatTemplate, genTemplatePath } from "./tokenizer-files.js";
export { SeededRandom } from "./prng.js";
export * from "./crafted-gen.js";
export * from "./crafted-stream.js";
