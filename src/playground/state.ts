/**
 * What the panels share: the server's info, the latest verdicts, the rule and mode toggles, the policy chosen in
 * the Policy panel, and the decisions the server made under that policy (cached, so the toggles re-mark the
 * Stream panel and re-show the decisions without asking the server again).
 */
import { pairVerdict, streamPairs } from "../core/stream-replay.js";
import { describeError, type Api } from "./api.js";
import type {
  DecideResponse,
  Decision,
  GenResult,
  HeldTiers,
  Info,
  PolicyInput,
  PromptVerdict,
  Rendered,
  Strictness,
  StreamRule,
  TokenVerdict,
} from "./types.js";

export const MODES: readonly Strictness[] = ["strict", "loose"];
export const RULES: readonly StreamRule[] = ["official", "report"];

/** Which policy the Policy panel applies: a tenant's, or the text in its editor. */
export type PolicySource = { tenant: string } | { policy: string };

/** One Stream panel run: a pasted answer through the WebSocket, or the upstream's through the proxy. */
export interface StreamRun {
  source: "paste" | "upstream";
  state: "opening" | "streaming" | "ended" | "failed" | "stopped";
  prompt?: PromptVerdict;
  tokens: TokenVerdict[];
  startedAt: number;
  promptAt?: number;
  firstChunkAt?: number;
  lastTokenAt?: number;
  /** What the proxy sent (upstream runs). */
  proxy?: { text: string; finishReason?: string; guard?: ProxyGuardObject; error?: string };
}

/** The `qwen3guard` object of a proxied answer (docs/server.md). */
export interface ProxyGuardObject {
  direction: "prompt" | "response";
  tier: string;
  categories: string[];
  action: string;
  reasons?: { message: string; decisive: boolean }[];
}

/** The key of a verdict in the decision cache. */
function verdictKey(v: PolicyInput): string {
  const p = v.probabilities;
  return JSON.stringify([
    v.direction,
    v.tier,
    [...v.categories].sort(),
    p === undefined ? null : [p.Safe, p.Unsafe, p.Controversial],
  ]);
}

/** The prompt verdict of a Stream run, as a policy reads it. */
export function promptInput(p: PromptVerdict): PolicyInput {
  return {
    direction: "prompt",
    tier: p.tier,
    categories: p.tier === "Safe" ? [] : [p.category as PolicyInput["categories"][number]],
    probabilities: p.probabilities,
  };
}

/** A Gen verdict as a policy reads it. */
export function genInput(result: GenResult): PolicyInput {
  const v = result.verdict;
  return {
    direction: result.direction,
    tier: v.tier,
    categories: v.categories,
    ...(v.probabilities === undefined ? {} : { probabilities: v.probabilities }),
  };
}

/** The answer with no flagged pair. */
export const SAFE_ANSWER: PolicyInput = { direction: "response", tier: "Safe", categories: [] };

export class PlaygroundState extends EventTarget {
  info!: Info;
  rule: StreamRule = "official";
  mode: Strictness = "strict";
  gen: { result: GenResult; rendered?: Rendered } | undefined;
  stream: StreamRun | undefined;
  /** The policy applied, once it is valid (undefined while the editor holds an invalid one). */
  policy: { source: PolicySource; mode: Strictness; label: string } | undefined;
  /** Why the last request for decisions failed, if it did. */
  decisionError: string | undefined;
  readonly #decisions = new Map<string, Decision>();
  readonly #held = new Map<Strictness, HeldTiers>();
  #generation = 0;
  #pending: Promise<void> | undefined;
  #again = false;

  constructor(readonly api: Api) {
    super();
  }

  /** Tell the panels something changed. */
  emit(what: "toggles" | "verdicts" | "policy" | "decisions" | "tokens"): void {
    this.dispatchEvent(new CustomEvent("change", { detail: what }));
  }

  on(listener: (what: string) => void): void {
    this.addEventListener("change", (e) => listener((e as CustomEvent<string>).detail));
  }

  /** Apply another policy: the cached decisions are dropped, the mode follows the policy's own. */
  setPolicy(policy: PlaygroundState["policy"]): void {
    const modeChanged = policy !== undefined && policy.mode !== this.policy?.mode;
    this.policy = policy;
    this.#generation++;
    this.#decisions.clear();
    this.#held.clear();
    if (modeChanged) this.mode = policy.mode;
    this.emit("policy");
    if (modeChanged) this.emit("toggles");
    void this.refreshDecisions();
  }

  /** The decision for a verdict under the policy read in `mode`, when the server has made it. */
  decision(verdict: PolicyInput, mode: Strictness = this.mode): Decision | undefined {
    return this.#decisions.get(`${mode}\u0000${verdictKey(verdict)}`);
  }

  /** The tiers the proxy holds back under the policy read in `mode`. */
  held(rule: StreamRule = this.rule, mode: Strictness = this.mode): HeldTiers[StreamRule] | undefined {
    return this.#held.get(mode)?.[rule];
  }

  /** Every verdict the panels show a decision for, under either rule. */
  #verdicts(): PolicyInput[] {
    const out: PolicyInput[] = [];
    if (this.gen) out.push(genInput(this.gen.result));
    const run = this.stream;
    if (run?.prompt) out.push(promptInput(run.prompt));
    if (run && run.tokens.length > 0) {
      out.push(SAFE_ANSWER);
      for (const rule of RULES)
        for (const pair of streamPairs(run.tokens, rule)) out.push(pairVerdict(run.tokens, pair));
    }
    return out;
  }

  /**
   * Ask the server for the decisions not cached yet (both modes), then tell the panels. Calls while one runs are
   * folded into one more run after it.
   */
  refreshDecisions(): Promise<void> {
    if (this.#pending) {
      this.#again = true;
      return this.#pending;
    }
    this.#pending = this.#refresh().finally(() => {
      this.#pending = undefined;
      if (this.#again) {
        this.#again = false;
        void this.refreshDecisions();
      }
    });
    return this.#pending;
  }

  async #refresh(): Promise<void> {
    try {
      await this.#fetchDecisions();
      this.decisionError = undefined;
    } catch (error) {
      this.decisionError = describeError(error);
      this.emit("decisions");
    }
  }

  async #fetchDecisions(): Promise<void> {
    const policy = this.policy;
    if (policy === undefined) return;
    const generation = this.#generation;
    const verdicts = this.#verdicts();
    let changed = false;
    for (const mode of MODES) {
      const seen = new Set<string>();
      const missing = verdicts.filter((v) => {
        const key = verdictKey(v);
        if (seen.has(key) || this.#decisions.has(`${mode}\u0000${key}`)) return false;
        seen.add(key);
        return true;
      });
      if (missing.length === 0 && this.#held.has(mode)) continue;
      const size = this.info.limits.decideVerdicts;
      for (let start = 0; start === 0 || start < missing.length; start += size) {
        const chunk = missing.slice(start, start + size);
        const response = await this.api.post<DecideResponse>("/v1/guard/policy/decide", {
          ...policy.source,
          mode,
          verdicts: chunk,
        });
        if (generation !== this.#generation) return; // another policy was chosen meanwhile
        this.#held.set(mode, response.held);
        chunk.forEach((v, i) => this.#decisions.set(`${mode}\u0000${verdictKey(v)}`, response.decisions[i]!));
        changed = true;
      }
    }
    if (changed) this.emit("decisions");
  }
}
