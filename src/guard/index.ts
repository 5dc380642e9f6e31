/**
 * The qwen3guard library: Gen moderation (GenGuard), Stream moderation (StreamGuard), policies, and the pure
 * core types they return.
 */
export * from "../core/index.js";
export { GenGuard, type GenGuardOptions, type GenMode, type ModerateOptions } from "./gen-guard.js";
export * from "./policy/index.js";
export {
  StreamGuard,
  type StreamGuardOptions,
  type StreamGuardStats,
  type StreamModeration,
  type StreamSessionDefaults,
} from "./stream-guard.js";
export type {
  GuardInfo,
  GuardModelInfo,
  RemoteBackendInfo,
  GenGuardInfo,
  StreamGuardInfo,
  ModelKind,
  SyntheticWeights,
} from "./guard-info.js";
export type { StreamLabels } from "../engine/stream/stream-scoring.js";
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
export {
  moderateTextStream,
  heldTiers,
  DEFAULT_REGENERATE_INSTRUCTION,
  type ModerateTextStreamOptions,
  type ModeratedSource,
  type ModeratedSourceItem,
  type ModeratedStreamPart,
  type ModeratedStreamResult,
  type AnswerDecision,
  type RegenerateRequest,
} from "./moderated-stream.js";
export {
  createQwen3GuardMiddleware,
  type Qwen3GuardMiddlewareOptions,
  type Qwen3GuardDecisionEvent,
} from "./ai-sdk-middleware.js";
export * from "./errors.js";
export {
  ENGINE_DEFAULTS,
  resolveEngineOptions,
  type EngineOptions,
  type EngineBackend,
  type KvCacheType,
  type ResolvedEngineOptions,
} from "../engine/engine-options.js";
export {
  REMOTE_DEFAULTS,
  type RemoteOptions,
  type RemoteBackend,
  type RemoteBackendKind,
} from "../engine/remote/remote-options.js";
export type {
  CompletionRequest,
  CompletionResult,
  CompletionPosition,
  CompletionToken,
} from "../engine/gen/completion.js";
export { judgeRollout, type Rollout, type RolloutVerdicts } from "./rewards.js";
