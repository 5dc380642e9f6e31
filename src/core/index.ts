/**
 * `qwen3guard/core`: the pure building blocks of the guards, for people composing their own pipeline (another
 * inference server, a batch job, a different language model runtime). No I/O, no model, no engine: rendering the
 * Gen and Stream prompts, parsing what a Gen model wrote, the Stream pair rule (and replaying an answer's verdicts
 * under another rule, mode or policy), policy validation, resolution and decisions, the rewards, and the labels,
 * verdict types and errors they use.
 *
 * The surface is pinned by test/repo/exports.test.ts; see docs/api.md.
 */

// ---- Errors ----
export { Qwen3GuardError, isQwen3GuardError } from "./errors.js";
export { RewardInputError } from "./eval-errors.js";

// ---- Labels, conversations, verdicts ----
export * from "./labels.js";
export {
  CHAT_ROLES,
  parseChatMessages,
  InvalidConversationError,
  type ChatMessage,
  type ChatRole,
} from "./messages.js";
export type { PromptSegment, SegmentKind } from "./segments.js";
export type { GenOutput, Verdict, TierProbabilities, TokenCounts, Timings } from "./verdict.js";

// ---- Prompts ----
export {
  renderGenPrompt,
  genDirectionOf,
  type GenPrompt,
  type GenPromptOptions,
  type SystemMessagePolicy,
} from "./prompt/gen-prompt.js";
export { renderStreamPrompt, type StreamPrompt } from "./prompt/stream-prompt.js";

// ---- Gen output ----
export {
  parseGenOutput,
  tryParseGenOutput,
  formatGenOutput,
  parseGenOutputReference,
  GenOutputParseError,
  type GenOutputParseResult,
  type ReferenceGenOutput,
} from "./parse/gen-output.js";

// ---- The Stream pair rule ----
export {
  StreamTracker,
  pairTrigger,
  streamStop,
  streamVerdict,
  type StreamRule,
  type StreamDecisionOptions,
  type StreamTrigger,
  type StreamVerdict,
} from "./stream-decision.js";
export {
  streamPairs,
  pairVerdict,
  replayStream,
  replayProxy,
  clearedWhileStreaming,
  type ReplayToken,
  type ReplayPair,
  type StreamReplay,
  type ProxyReplay,
} from "./stream-replay.js";

// ---- Policies ----
export {
  POLICY_ACTIONS,
  THRESHOLD_MEASURES,
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
} from "./policy/types.js";
export { PolicyError, PolicyExtendsCycleError, type PolicyIssue } from "./policy/errors.js";
export { parsePolicyDocument, type PolicyDocument } from "./policy/schema.js";
export { resolvePolicy, emptyPolicy } from "./policy/resolve.js";
export { decide, actionTable } from "./policy/decide.js";
export { parsePolicyInput } from "./policy/input.js";
export { policyDocument } from "./policy/document.js";

// ---- Safety-RL rewards ----
export {
  rewardGuardOnly,
  rewardHybrid,
  splitThinking,
  isRolloutSafe,
  HYBRID_REWARD,
  type RolloutJudgement,
} from "./rewards.js";
