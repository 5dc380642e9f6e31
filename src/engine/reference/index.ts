/** The float32 reference implementation of Qwen3 and the Qwen3Guard-Stream heads: the oracle for engine tests. */
export { ReferenceQwen3, type ReferenceForward, type ForwardOptions } from "./qwen3.js";
export {
  ReferenceStreamHeads,
  type StreamHeadsOutput,
  type PathOutput,
  type HeadOutput,
} from "./stream-heads.js";
export { FolderWeights, MapWeights, ReferenceWeightsError, type WeightSource } from "./weights.js";
export { rmsNorm, matVec, applyRope, ropeInverseFrequencies, softmax, silu, argmax } from "./ops.js";
