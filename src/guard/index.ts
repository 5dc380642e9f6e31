/**
 * The qwen3guard library: Gen moderation (GenGuard), Stream moderation (StreamGuard), policies, and the pure
 * core types they return.
 */
export * from "../core/index.js";
export { GenGuard, type GenGuardOptions, type GenMode, type ModerateOptions } from "./gen-guard.js";
export * from "./policy/index.js";
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
export * from "./errors.js";
export {
  ENGINE_DEFAULTS,
  resolveEngineOptions,
  type EngineOptions,
  type EngineBackend,
  type KvCacheType,
  type ResolvedEngineOptions,
} from "../engine/engine-options.js";
export { judgeRollout, type Rollout, type RolloutVerdicts } from "./rewards.js";
