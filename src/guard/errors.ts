/**
 * Every error class the library throws on a path a user can reach, in one place for the package entry. All extend
 * `Qwen3GuardError` and carry a stable `code`; the table of codes is docs/errors.md.
 */
export { Qwen3GuardError, isQwen3GuardError } from "../core/errors.js";
export { InvalidConversationError } from "../core/messages.js";
export { GenOutputParseError } from "../core/parse/gen-output.js";
export { PolicyError, PolicyExtendsCycleError } from "../core/policy/errors.js";
export { EngineOptionsError } from "../engine/engine-options.js";
export { EngineUnavailableError } from "../engine/load-backend.js";
export { ContextOverflowError } from "../engine/gen/gen-engine.js";
export { GenEngineBrokenError } from "../engine/gen/sequence-pool.js";
export { OutputVocabularyError } from "../engine/gen/output-vocabulary.js";
export { RegexSyntaxError } from "../engine/gen/regex-automaton.js";
export {
  RemoteEngineError,
  RemoteTimeoutError,
  RemoteProtocolError,
  RemoteUnavailableError,
  RemoteInputRefusedError,
} from "../engine/remote/remote-errors.js";
export { NodeLlamaInternalsError } from "../engine/stream/node-llama-hidden-state-engine.js";
export {
  LlamaFfiError,
  LlamaFfiInputError,
  LlamaFfiNativeError,
  LlamaFfiDisposedError,
  LlamaDecodeError,
} from "../engine/llama-ffi/errors.js";
export { ModelSpecError, type ModelSpecErrorReason } from "../model/resolve-model.js";
export { HfConfigError } from "../model/hf-config.js";
export { SafetensorsError } from "../model/safetensors.js";
export { GgufReadError } from "../model/gguf/gguf-reader.js";
export { GgufWriteError } from "../model/gguf/gguf-writer.js";
export { GgmlTypeError } from "../model/gguf/ggml-types.js";
export { QuantizeError } from "../model/gguf/quantize.js";
export { ConvertError } from "../model/convert/convert-error.js";
export { ChatTemplateError, ChatTemplateNotFoundError } from "../model/chat-template.js";
export { TokenizerFormatError, TokenizerUsageError } from "../model/tokenizer/errors.js";
export { SynthError } from "../model/synth/tokenizer-files.js";
export { StreamAssetsError } from "../model/stream-assets.js";
export { ModelKindError, type FoundModelKind } from "../model/model-kind.js";
export { GgufIntegrityError } from "../model/gguf/gguf-integrity.js";
export {
  HubError,
  HubUnreachableError,
  HubHttpError,
  ChecksumMismatchError,
  type HubErrorReason,
} from "../model/hub/errors.js";
export { UnknownTenantError } from "./policy/registry.js";
export {
  EvalDataError,
  EvalRowError,
  EvalOptionsError,
  EvalResumeError,
  EvalRunNotFoundError,
  RewardInputError,
  type EvalDataErrorCode,
} from "../core/eval-errors.js";
export {
  StreamGuardError,
  StreamSessionClosedError,
  StreamInputError,
  StreamContextFullError,
  StreamCapacityError,
  StreamGuardClosedError,
  StreamListenerError,
  type StreamSessionState,
} from "./stream-errors.js";
