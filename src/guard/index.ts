/**
 * The qwen3guard library, for applications: Gen moderation (GenGuard), Stream moderation (StreamGuard and its
 * sessions), engine options, policies, moderated text streams and the AI SDK middleware, the safety-RL rewards,
 * every error class, and the label and verdict types they all speak.
 *
 * The surface is deliberate and pinned by test/repo/exports.test.ts; what each entry is for and what stays stable
 * is in docs/api.md. The pure building blocks (prompt rendering, output parsing, the pair rule, policy resolution)
 * are in `qwen3guard/core`; models for tests in `qwen3guard/testing`.
 */

// ---- Gen moderation ----
export { GenGuard, type GenGuardOptions, type GenMode, type ModerateOptions } from "./gen-guard.js";

// ---- Stream moderation ----
export {
  StreamGuard,
  type StreamGuardOptions,
  type StreamGuardStats,
  type StreamModeration,
  type StreamSessionDefaults,
} from "./stream-guard.js";
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
export type { StreamRule } from "../core/stream-decision.js";
export type { StreamLabels } from "../engine/stream/stream-scoring.js";

// ---- What a loaded guard says about itself, and how it runs ----
export type {
  GuardInfo,
  GuardModelInfo,
  RemoteBackendInfo,
  GenGuardInfo,
  StreamGuardInfo,
  ModelKind,
  SyntheticWeights,
} from "./guard-info.js";
export {
  ENGINE_DEFAULTS,
  resolveEngineOptions,
  type EngineOptions,
  type EngineBackend,
  type KvCacheType,
  type ResolvedEngineOptions,
} from "../engine/engine-options.js";

// ---- Remote engines: Gen on vLLM, SGLang, llama-server, Ollama or another qwen3guard (docs/scale-out.md) ----
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

// ---- Conversations, labels, verdicts ----
export { parseChatMessages, type ChatMessage, type ChatRole } from "../core/messages.js";
export {
  RISK_TIERS,
  PROMPT_CATEGORIES,
  RESPONSE_CATEGORIES,
  REFUSAL_LABELS,
  type RiskTier,
  type Category,
  type PromptCategory,
  type ResponseCategory,
  type RefusalLabel,
  type Direction,
  type Strictness,
} from "../core/labels.js";
export type {
  Verdict,
  GenOutput,
  TierProbabilities,
  TierProbabilityBounds,
  RemoteVerdictInfo,
  TokenCounts,
  Timings,
} from "../core/verdict.js";

// ---- Policies ----
export { loadPolicy, loadPolicyFile, type LoadedPolicy } from "./policy/load.js";
export {
  PolicyRegistry,
  type PolicyRegistryOptions,
  type PolicySnapshot,
  type TenantPolicyFiles,
  type ReloadResult,
  type WatchOptions,
} from "./policy/registry.js";
export { decide } from "../core/policy/decide.js";
export { parsePolicyInput } from "../core/policy/input.js";
export {
  POLICY_ACTIONS,
  type Policy,
  type PolicyAction,
  type DirectionPolicy,
  type TierActions,
  type ThresholdRule,
  type ThresholdMeasure,
  type ThresholdAction,
  type PolicyInput,
  type Decision,
  type DecisionReason,
  type TierReason,
  type ThresholdReason,
} from "../core/policy/types.js";
export type { PolicyIssue } from "../core/policy/errors.js";

// ---- Moderated text streams, the AI SDK middleware ----
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

// ---- Safety-RL rewards ----
export { judgeRollout, type Rollout, type RolloutVerdicts } from "./rewards.js";
export {
  rewardGuardOnly,
  rewardHybrid,
  splitThinking,
  isRolloutSafe,
  HYBRID_REWARD,
  type RolloutJudgement,
} from "../core/rewards.js";

// ---- Errors: every class the library throws (docs/errors.md) ----
export * from "./errors.js";
