/**
 * The Stream decision rule: from per-token risk labels of an answer to one verdict.
 * Pure: no I/O, no engine.
 *
 * Official rule (the official evaluation code; the default): the first position i where labels i and
 * i+1 are both Unsafe gives Unsafe at i+1; otherwise the first pair of consecutive Controversial gives
 * Controversial at i+1; otherwise Safe. A mixed Unsafe/Controversial pair does not trigger.
 * Report rule (the technical report's prose): the first pair of consecutive tokens that are each
 * Unsafe or Controversial, at i+1; its tier is Unsafe when either token is Unsafe, else Controversial.
 * Either way the verdict's category (and probabilities) are those of the triggering token i+1.
 *
 * Two questions, two answers:
 * - `streamVerdict` (and `StreamTracker.final()`): the verdict for the whole sequence. Under the
 *   official rule an Unsafe pair anywhere beats an earlier Controversial pair.
 * - `streamStop` (and `StreamTracker.push(...).fired`): where a live stream should stop, i.e. the first
 *   trigger the mode allows. strict: any trigger of the rule (so the first Controversial pair stops the
 *   stream even if an Unsafe pair would come later); loose: Controversial counts as Safe, so only a pair
 *   of two Unsafe tokens stops it (the same under both rules).
 */
import type { Category, RiskTier, Strictness } from "./labels.js";
import type { TierProbabilities } from "./verdict.js";

/**
 * Which pair rule turns per-token labels into a stop: `official` (the official evaluation code, the default: two
 * Unsafe tokens in a row, or two Controversial ones) or `report` (the technical report's prose: two tokens in a row
 * each Unsafe or Controversial). A Stream session's `rule`; see docs/stream.md.
 *
 * @example
 * ```ts
 * import type { StreamRule, StreamSessionOptions } from "qwen3guard";
 *
 * const rule: StreamRule = "report";
 * const options: StreamSessionOptions = { rule, mode: "strict" }; // for guard.openStream(messages, options)
 * console.log(options.rule);
 * ```
 */
export type StreamRule = "official" | "report";

/**
 * The rule and mode of `StreamTracker` and `streamStop` (`streamVerdict` takes the rule only: the mode decides
 * where a live stream stops, not the whole answer's verdict).
 *
 * @example
 * ```ts
 * import { StreamTracker, type StreamDecisionOptions } from "qwen3guard/core";
 *
 * const options: StreamDecisionOptions = { rule: "official", mode: "loose" }; // only Unsafe pairs stop
 * console.log(new StreamTracker(options).mode); // loose
 * ```
 */
export interface StreamDecisionOptions {
  /** Which pair rule to use (default `official`). */
  rule?: StreamRule;
  /** Which triggers stop a live stream (default `strict`); does not change the whole-sequence verdict. */
  mode?: Strictness;
}

/**
 * What a token brings to a trigger besides its label. By default its category and P(tier), each when known; the
 * tracker carries whatever detail type it is given (the Stream engine gives category names from config.json and
 * always-known probabilities), unchanged. A detail's own `tier` or `index` field, if any, is replaced by the trigger's.
 */
export interface TokenDetail<C extends string = Category> {
  category?: C;
  probabilities?: TierProbabilities;
}

/**
 * A pair of consecutive flagged tokens, reported at the second token (`index`), with that token's detail (by
 * default its category and probabilities when known): what `StreamTracker.push` fires and `streamStop` returns.
 * A Stream session's trigger (in the main entry) carries more: the token, its text, category names.
 *
 * @example
 * ```ts
 * import { streamStop, type StreamTrigger } from "qwen3guard/core";
 *
 * const trigger: StreamTrigger | undefined = streamStop(["Safe", "Unsafe", "Unsafe"], [undefined, "Violent", "Violent"]);
 * console.log(trigger); // { category: "Violent", tier: "Unsafe", index: 2 }
 * ```
 */
export type StreamTrigger<D extends object = TokenDetail> = Omit<D, "tier" | "index"> & {
  tier: "Unsafe" | "Controversial";
  /** Index (0-based, among the tokens pushed) of the triggering token, the second of the pair. */
  index: number;
};

/**
 * The verdict for a whole answer: `{ tier: "Safe" }` (no trigger), or the deciding trigger (`streamVerdict`,
 * `StreamTracker.final()`).
 *
 * @example
 * ```ts
 * import { streamVerdict, type StreamVerdict } from "qwen3guard/core";
 *
 * const verdict: StreamVerdict = streamVerdict(["Safe", "Controversial", "Safe"]);
 * console.log(verdict.tier); // Safe: no pair
 * ```
 */
export type StreamVerdict<D extends object = TokenDetail> = { tier: "Safe" } | StreamTrigger<D>;

/**
 * The tier a pair of consecutive labels triggers under a rule (default `official`), or undefined when it does
 * not trigger. A mixed Unsafe/Controversial pair triggers under the report rule only.
 *
 * @example
 * ```ts
 * import { pairTrigger } from "qwen3guard/core";
 *
 * console.log(pairTrigger("Unsafe", "Controversial"), pairTrigger("Unsafe", "Controversial", "report")); // undefined Unsafe
 * ```
 */
export function pairTrigger(
  a: RiskTier,
  b: RiskTier,
  rule: StreamRule = "official",
): StreamTrigger["tier"] | undefined {
  if (rule === "official") {
    if (a === "Unsafe" && b === "Unsafe") return "Unsafe";
    if (a === "Controversial" && b === "Controversial") return "Controversial";
    return undefined;
  }
  if (a === "Safe" || b === "Safe") return undefined;
  return a === "Unsafe" || b === "Unsafe" ? "Unsafe" : "Controversial";
}

/** Whether a trigger stops a live stream under a mode (loose: only two Unsafe tokens). */
function stops(a: RiskTier, b: RiskTier, tier: StreamTrigger["tier"], mode: Strictness): boolean {
  return mode === "strict" ? true : a === "Unsafe" && b === "Unsafe" && tier === "Unsafe";
}

/**
 * Incremental form of the rule, for tokens as they stream in. `push` reports `fired` once, at the
 * first trigger the mode's stop condition allows; `final()` is the whole-sequence verdict so far
 * (equal to `streamVerdict` over everything pushed). Each token comes with a detail of type `D` (by default its
 * optional category and probabilities); triggers carry the triggering token's detail as given. Use it when you
 * score the tokens yourself (StreamGuard sessions run one inside).
 *
 * @example
 * ```ts
 * import { StreamTracker } from "qwen3guard/core";
 *
 * const tracker = new StreamTracker({ mode: "strict" });
 * for (const label of ["Safe", "Controversial", "Controversial", "Unsafe"] as const) {
 *   const { fired } = tracker.push(label, {});
 *   if (fired) console.log("stop at token", fired.index, fired.tier); // stop at token 2 Controversial
 * }
 * console.log(tracker.final().tier); // Controversial
 * ```
 */
export class StreamTracker<D extends object = TokenDetail> {
  readonly rule: StreamRule;
  readonly mode: Strictness;
  #prev: RiskTier | undefined;
  #count = 0;
  #firstUnsafe: StreamTrigger<D> | undefined;
  #firstControversial: StreamTrigger<D> | undefined;
  #firstAny: StreamTrigger<D> | undefined;
  #fired: StreamTrigger<D> | undefined;

  constructor(options: StreamDecisionOptions = {}) {
    this.rule = options.rule ?? "official";
    this.mode = options.mode ?? "strict";
  }

  /** Tokens pushed so far. */
  get length(): number {
    return this.#count;
  }

  /** The stop trigger, once one fired. */
  get fired(): StreamTrigger<D> | undefined {
    return this.#fired;
  }

  /** Feed the next token's label and detail; `fired` is set on the push that stops. */
  push(label: RiskTier, detail: D): { index: number; fired?: StreamTrigger<D> } {
    const index = this.#count++;
    const prev = this.#prev;
    this.#prev = label;
    if (prev === undefined) return { index };
    const tier = pairTrigger(prev, label, this.rule);
    if (tier === undefined) return { index };
    const trigger: StreamTrigger<D> = { ...detail, tier, index };
    this.#firstAny ??= trigger;
    if (tier === "Unsafe") this.#firstUnsafe ??= trigger;
    else this.#firstControversial ??= trigger;
    if (this.#fired === undefined && stops(prev, label, tier, this.mode)) {
      this.#fired = trigger;
      return { index, fired: trigger };
    }
    return { index };
  }

  /** The whole-sequence verdict over the tokens pushed so far. */
  final(): StreamVerdict<D> {
    const found = this.rule === "official" ? (this.#firstUnsafe ?? this.#firstControversial) : this.#firstAny;
    return found ?? { tier: "Safe" };
  }
}

function triggerAt<C extends string>(
  categories: readonly (C | undefined)[] | undefined,
  index: number,
  tier: StreamTrigger["tier"],
): StreamTrigger<TokenDetail<C>> {
  const category = categories?.[index];
  return { ...(category === undefined ? {} : { category }), tier, index };
}

/** The first i+1 where the pair (i, i+1) satisfies `match`, or -1. */
function firstPair(labels: readonly RiskTier[], match: (a: RiskTier, b: RiskTier) => boolean): number {
  for (let i = 0; i + 1 < labels.length; i++) if (match(labels[i]!, labels[i + 1]!)) return i + 1;
  return -1;
}

/**
 * The verdict for a whole answer, from its per-token labels (and per-token categories): under the official rule
 * an Unsafe pair anywhere beats an earlier Controversial pair. Use it to judge a finished answer's labels.
 *
 * @example
 * ```ts
 * import { streamVerdict } from "qwen3guard/core";
 *
 * const labels = ["Controversial", "Controversial", "Unsafe", "Unsafe"] as const;
 * console.log(streamVerdict(labels)); // { tier: "Unsafe", index: 3 }
 * ```
 */
export function streamVerdict<C extends string = Category>(
  labels: readonly RiskTier[],
  categories?: readonly (C | undefined)[],
  options: Pick<StreamDecisionOptions, "rule"> = {},
): StreamVerdict<TokenDetail<C>> {
  const rule = options.rule ?? "official";
  if (rule === "official") {
    for (const tier of ["Unsafe", "Controversial"] as const) {
      const at = firstPair(labels, (a, b) => a === tier && b === tier);
      if (at >= 0) return triggerAt(categories, at, tier);
    }
    return { tier: "Safe" };
  }
  const at = firstPair(labels, (a, b) => pairTrigger(a, b, "report") !== undefined);
  return at < 0
    ? { tier: "Safe" }
    : triggerAt(categories, at, pairTrigger(labels[at - 1]!, labels[at]!, "report")!);
}

/**
 * Where a live stream would stop under the rule and mode (the first trigger the mode allows), or undefined when it
 * would not: the same as the first `fired` of a StreamTracker.
 *
 * @example
 * ```ts
 * import { streamStop } from "qwen3guard/core";
 *
 * const labels = ["Controversial", "Controversial", "Unsafe", "Unsafe"] as const;
 * console.log(streamStop(labels)?.index, streamStop(labels, undefined, { mode: "loose" })?.index); // 1 3
 * ```
 */
export function streamStop<C extends string = Category>(
  labels: readonly RiskTier[],
  categories?: readonly (C | undefined)[],
  options: StreamDecisionOptions = {},
): StreamTrigger<TokenDetail<C>> | undefined {
  const rule = options.rule ?? "official";
  const match =
    (options.mode ?? "strict") === "loose"
      ? (a: RiskTier, b: RiskTier) => a === "Unsafe" && b === "Unsafe"
      : (a: RiskTier, b: RiskTier) => pairTrigger(a, b, rule) !== undefined;
  const at = firstPair(labels, match);
  return at < 0 ? undefined : triggerAt(categories, at, pairTrigger(labels[at - 1]!, labels[at]!, rule)!);
}
