/**
 * The qwen3guard library: Gen moderation (GenGuard), Stream moderation (StreamGuard), policies, and the pure
 * core types they return.
 */
export * from "../core/index.js";
export { GenGuard, type GenGuardOptions, type GenMode, type ModerateOptions } from "./gen-guard.js";
export * from "./policy/index.js";
export { ContextOverflowError } from "../engine/gen/gen-engine.js";
export { GenOutputParseError } from "../core/parse/gen-output.js";
export { StreamGuard, type StreamGuardOptions, type StreamModeration } from "./stream-guard.js";
export { StreamSession } from "./stream-session.js";
export type {
  StreamPromptVerdict,
  StreamTokenVerdict,
  StreamAnswerVerdict,
  StreamEvent,
  StreamSessionOptions,
  // The session's trigger (with token, text, category names); the core tracker's is in "qwen3guard/core".
  StreamTrigger,
} from "./stream-types.js";
export * from "./stream-errors.js";
export { StreamAssetsError } from "../model/stream-assets.js";
export { ModelKindError, type FoundModelKind } from "../model/model-kind.js";
export { GgufIntegrityError } from "../model/gguf/gguf-integrity.js";
