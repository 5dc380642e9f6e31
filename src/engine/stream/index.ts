/** Qwen3Guard-Stream inference: per-token hidden states (two engines behind one interface) and the heads in JS. */
export type {
  HiddenStateEngine,
  HiddenStateEngineKind,
  HiddenStateEngineOptions,
  HiddenStateItem,
} from "./hidden-state-engine.js";
export { LlamaFfiHiddenStateEngine } from "./llama-ffi-hidden-state-engine.js";
export { NodeLlamaHiddenStateEngine, NodeLlamaInternalsError } from "./node-llama-hidden-state-engine.js";
export { loadHiddenStateEngine } from "./load-engine.js";
export { DecodeCoalescer, type CoalescerStats } from "./decode-coalescer.js";
export { StreamHeads, type HeadPath, type HeadScores } from "./stream-heads.js";
export {
  StreamScorer,
  AnswerScoring,
  type HeadScore,
  type ScoreDetail,
  type ScoredTrigger,
  type ScoredVerdict,
  type StreamLabels,
} from "./stream-scoring.js";
