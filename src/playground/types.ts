/** What the server sends the playground (the /v1 API's JSON shapes the page reads). */
import type { Direction, RiskTier, Strictness } from "../core/labels.js";
import type { ChatMessage } from "../core/messages.js";
import type { Decision, PolicyInput } from "../core/policy/types.js";
import type { StreamRule } from "../core/stream-decision.js";
import type { TierProbabilities, Verdict } from "../core/verdict.js";

export type {
  ChatMessage,
  Decision,
  Direction,
  PolicyInput,
  RiskTier,
  Strictness,
  StreamRule,
  TierProbabilities,
};

export type HeldTiers = Record<StreamRule, RiskTier[]>;

export interface ModelInfo {
  name: string;
  source: "hub" | "path";
  synthetic?: "random" | "hand-set";
  engine: string;
  device: string;
  contextSize: number;
  sequences: number;
}

export interface PolicyEntry {
  tenant: string;
  builtin: boolean;
  name?: string;
  description?: string;
  mode: Strictness;
  sources: string[];
  text: string;
  held: HeldTiers;
}

/** GET /v1/guard/info */
export interface Info {
  models: { gen: ModelInfo | null; stream: ModelInfo | null };
  synthetic: string | null;
  notice?: string;
  demo?: {
    genTrigger: string;
    streamUnsafeWords: string[];
    streamControversialWords: string[];
    promptTriggerWords: string[];
  };
  upstream: { configured: boolean };
  auth: { required: boolean };
  tenant: string;
  policies: PolicyEntry[];
  limits: {
    messages: number;
    contentChars: number;
    bodyBytes: number;
    streamIdleSeconds: number;
    policyChars: number;
    decideVerdicts: number;
  };
}

/** One result of POST /v1/guard/moderate with the Gen model. */
export interface GenResult {
  direction: Direction;
  action: Decision["action"];
  verdict: Verdict;
  decision: Decision;
  latencyMs: number;
}

/** POST /v1/guard/render */
export interface Rendered {
  direction: Direction;
  text: string;
  segments: { kind: "template" | "content"; text: string }[];
}

/** POST /v1/guard/policy/check */
export type PolicyCheck =
  | { valid: true; name: string; policy: { name?: string; mode: Strictness }; held: HeldTiers }
  | {
      valid: false;
      name: string;
      code: string;
      messages: string[];
      issues: { path: string; message: string }[];
    };

/** POST /v1/guard/policy/decide */
export interface DecideResponse {
  policy: { source: "text" | "tenant"; tenant?: string; name?: string; mode: Strictness };
  held: HeldTiers;
  decisions: Decision[];
}

/** The query heads' verdict (the WebSocket `prompt` frame). */
export interface PromptVerdict {
  tier: RiskTier;
  category: string;
  probabilities: TierProbabilities;
  promptTokens: number;
}

/** One answer token's verdict (the WebSocket `token` frame). */
export interface TokenVerdict {
  index: number;
  token: number;
  text: string;
  tier: RiskTier;
  category: string;
  probabilities: TierProbabilities;
}

export type ServerFrame =
  | { type: "prompt"; verdict: PromptVerdict; decision: Decision; rule: StreamRule; mode: Strictness }
  | { type: "token"; verdict: TokenVerdict }
  | { type: "trigger"; trigger: { index: number; tier: RiskTier; category: string }; decision: Decision }
  | {
      type: "end";
      verdict: { tier: RiskTier; index?: number; category?: string };
      decision: Decision;
      reason?: string;
    }
  | { type: "error"; code: string; message: string; param?: string; retryAfter?: number };
