/**
 * A thin koffi binding over the libllama that node-llama-cpp ships: batched, multi-sequence decodes returning
 * the hidden state of every position, KV rollback, and next-token logits. See docs/engine.md.
 */
export {
  LlamaLibrary,
  type LlamaLibraryOptions,
  type LlamaLibraryLoadResult,
  type LlamaLogLevel,
  type LlamaLogHandler,
} from "./LlamaLibrary.js";
export { LlamaFfiModel, type LlamaFfiModelOptions } from "./LlamaFfiModel.js";
export { LlamaFfiContext, type LlamaFfiContextOptions, type DecodeItem } from "./LlamaFfiContext.js";
export { DecodeQueue, llamaDecodeQueue } from "./decodeQueue.js";
export { LmHeadSkip, HIDDEN_STATE_NODE_NAMES } from "./LmHeadSkip.js";
export { EXPECTED_ABI, abiMismatches, type AbiExpectation } from "./abiCheck.js";
export { structSize, layoutMismatches } from "./llamaAbi.js";
export { findLlamaBinaries, type LlamaBinaries } from "./llamaBinaries.js";
export {
  LlamaFfiError,
  LlamaFfiInputError,
  LlamaFfiNativeError,
  LlamaFfiDisposedError,
  LlamaDecodeError,
  type LlamaDecodeFailure,
} from "./errors.js";
export { LLAMA_HEADER } from "./llamaHeader.generated.js";
