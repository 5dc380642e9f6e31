/**
 * Greedy completion of a token-id prompt on the embedded Gen engine, optionally held to a regular expression,
 * with the log-probabilities vLLM's completions API reports: what `POST /v1/completions` serves, so that one
 * qwen3guard server can be another's remote engine.
 *
 * Log-probabilities are the model's own (softmax of the logits at temperature 1, before the constraint), at every
 * generated position: the top `logprobs` tokens, or exactly the ids of `logprobTokenIds` when given (vLLM's
 * `logprob_token_ids`: cheaper, the full distribution is not needed). The chosen token is the most probable of
 * those the constraint allows; the prompt's KV state is reused across requests as for moderation.
 */
import type { QwenTokenizer } from "../../model/tokenizer/index.js";
import type { GenEngine } from "./gen-engine.js";
import { tokenConstraint } from "./token-constraint.js";
import { isSpeculativeScorer } from "./token-scorer.js";

/**
 * What `GenGuard.complete` (and the server's `POST /v1/completions`) takes: a token-id prompt, how many tokens to
 * generate at most, the log-probabilities to report, and optionally a regular expression the whole output is held
 * to. Decoding is greedy.
 *
 * @example
 * ```ts
 * import { GenGuard, type CompletionRequest } from "qwen3guard";
 *
 * const guard = await GenGuard.load({ model: "/models/Qwen3Guard-Gen-0.6B" });
 * const { ids } = guard.tokenize([{ role: "user", content: "Hi" }]);
 * const request: CompletionRequest = { promptIds: ids, maxTokens: 12, logprobs: 3, regex: "Safety: (Safe|Unsafe)" };
 * const { promptIds, ...options } = request;
 * console.log((await guard.complete(promptIds, options)).text); // e.g. Safety: Safe
 * await guard.close();
 * ```
 */
export interface CompletionRequest {
  promptIds: readonly number[];
  /** Most tokens to generate (≥ 1). */
  maxTokens: number;
  /** Top log-probabilities reported per position (0 or absent: none). */
  logprobs?: number;
  /** With `logprobs`: report these ids' log-probabilities instead of the top k (at every position). */
  logprobTokenIds?: readonly number[];
  /** Hold the whole output to this regular expression (see regex-automaton.ts for the syntax). */
  regex?: string;
  /** Leave special tokens out of `text` and of the tokens' texts (default true). */
  skipSpecialTokens?: boolean;
}

/**
 * A token with its log-probability (natural log, the model's own distribution at temperature 1).
 *
 * @example
 * ```ts
 * import { GenGuard, type CompletionToken } from "qwen3guard";
 *
 * const guard = await GenGuard.load({ model: "/models/Qwen3Guard-Gen-0.6B" });
 * const { ids } = guard.tokenize([{ role: "user", content: "Hi" }]);
 * const result = await guard.complete(ids, { maxTokens: 4, logprobs: 2 });
 * const best: CompletionToken | undefined = result.positions?.[0]?.top[0];
 * console.log(best?.id, best?.text, Math.exp(best?.logprob ?? -Infinity));
 * await guard.close();
 * ```
 */
export interface CompletionToken {
  id: number;
  /** Its text (empty for a special token left out); bytes of an incomplete UTF-8 character show as U+FFFD. */
  text: string;
  logprob: number;
}

/**
 * One generated position of a completion: the token chosen there and the reported tokens (the top k, or exactly
 * the requested `logprobTokenIds`).
 *
 * @example
 * ```ts
 * import { GenGuard, type CompletionPosition } from "qwen3guard";
 *
 * const guard = await GenGuard.load({ model: "/models/Qwen3Guard-Gen-0.6B" });
 * const { ids } = guard.tokenize([{ role: "user", content: "Hi" }]);
 * const result = await guard.complete(ids, { maxTokens: 4, logprobs: 5 });
 * for (const p of result.positions ?? ([] as CompletionPosition[])) console.log(p.text, p.logprob, p.top.length);
 * await guard.close();
 * ```
 */
export interface CompletionPosition extends CompletionToken {
  /** The reported tokens, most probable first. */
  top: CompletionToken[];
}

/**
 * What `GenGuard.complete` returns: the generated ids and text, per position the log-probabilities when asked
 * for, why generation stopped, and how much of the prompt's KV state was reused.
 *
 * @example
 * ```ts
 * import { GenGuard, type CompletionResult } from "qwen3guard";
 *
 * const guard = await GenGuard.load({ model: "/models/Qwen3Guard-Gen-0.6B" });
 * const { ids } = guard.tokenize([{ role: "user", content: "Hi" }]);
 * const result: CompletionResult = await guard.complete(ids, { maxTokens: 16 });
 * console.log(result.text, result.finishReason, result.reusedTokens);
 * await guard.close();
 * ```
 */
export interface CompletionResult {
  /**
   * Generated ids, the end-of-text token included when generation stopped on it (except for an unconstrained
   * completion without log-probabilities, which stops before it).
   */
  ids: number[];
  /** Their text. */
  text: string;
  /** One entry per generated id (the token chosen, its log-probability, the reported ones) when log-probabilities were asked for. */
  positions: CompletionPosition[] | undefined;
  /** `stop`: an end-of-text token (or the constraint allows nothing more); `length`: `maxTokens` reached. */
  finishReason: "stop" | "length";
  /** Prompt tokens whose KV state was reused. */
  reusedTokens: number;
}

function topK(dist: Map<number, number>, k: number): [number, number][] {
  const best: [number, number][] = [];
  for (const [id, p] of dist) {
    if (best.length < k) {
      best.push([id, p]);
      if (best.length === k) best.sort((a, b) => b[1] - a[1]);
    } else if (p > best[k - 1]![1]) {
      let i = k - 1;
      while (i > 0 && best[i - 1]![1] < p) i--;
      best.splice(i, 0, [id, p]);
      best.pop();
    }
  }
  return best.sort((a, b) => b[1] - a[1]).map(([id, p]) => [id, Math.log(p)]);
}

/** Run a completion on `engine` (one sequence, first come first served with moderation requests). */
export function completeOnEngine(
  engine: GenEngine,
  tokenizer: QwenTokenizer,
  request: CompletionRequest,
): Promise<CompletionResult> {
  const k = request.logprobs ?? 0;
  const constraint = request.regex === undefined ? undefined : tokenConstraint(tokenizer, request.regex);
  const eos = new Set(
    ["<|im_end|>", "<|endoftext|>"]
      .map((t) => tokenizer.tokenToId(t))
      .filter((id): id is number => id !== undefined),
  );
  const skip = request.skipSpecialTokens ?? true;
  const token = (id: number, logprob: number): CompletionToken => ({
    id,
    text: tokenizer.decode([id], { skipSpecialTokens: skip }),
    logprob,
  });
  return engine.withSequence(
    request.promptIds,
    async (tail, lease) => {
      // Nothing to report and nothing to constrain: plain greedy generation.
      if (k === 0 && constraint === undefined) {
        // (the end-of-text token that stopped it is not returned)
        const ids = await lease.generateGreedy(tail, request.maxTokens);
        return {
          ids,
          text: tokenizer.decode(ids, { skipSpecialTokens: skip }),
          positions: undefined,
          finishReason: ids.length < request.maxTokens ? "stop" : "length",
          reusedTokens: lease.reusedTokens,
        };
      }
      const ids: number[] = [];
      const positions: CompletionPosition[] = [];
      let pending: number[] = [...tail];
      let state = constraint?.start ?? 0;
      const finish = (finishReason: "stop" | "length"): CompletionResult => ({
        ids,
        text: tokenizer.decode(ids, { skipSpecialTokens: skip }),
        positions: k > 0 ? positions : undefined,
        finishReason,
        reusedTokens: lease.reusedTokens,
      });
      const probe = request.logprobTokenIds ?? [];
      const record = (chosen: number, dist: Map<number, number>) => {
        if (k === 0) return;
        const top: [number, number][] =
          probe.length > 0
            ? probe
                .map((id): [number, number] => [id, Math.log(dist.get(id) ?? 0)])
                .sort((a, b) => b[1] - a[1])
            : topK(dist, k);
        positions.push({
          ...token(chosen, Math.log(dist.get(chosen) ?? 0)),
          top: top.map(([id, lp]) => token(id, lp)),
        });
      };
      // A run of forced tokens (the constraint allows one token, not the end) needs no distribution to be chosen:
      // with an engine that reads several positions of one evaluation, it is evaluated with the next choice, the
      // distributions at the forced positions (for their log-probabilities) read in the same pass.
      const batching =
        constraint !== undefined && (k === 0 || probe.length > 0) && isSpeculativeScorer(lease);
      let forced: number[] = [];
      for (let step = 0; step < request.maxTokens; step++) {
        const allowed = constraint?.allowed(state);
        if (allowed !== undefined && allowed.length === 0) return finish("stop");
        if (batching && allowed!.length === 1 && !eos.has(allowed![0]!)) {
          const t = allowed![0]!;
          forced.push(t);
          pending.push(t);
          ids.push(t);
          state = constraint!.next(state, t);
          continue;
        }
        const candidates = allowed ? [...new Set([...allowed, ...probe])] : undefined;
        let dist: Map<number, number>;
        if (batching && forced.length > 0 && isSpeculativeScorer(lease)) {
          // pending: [the last choice or the prompt's tail..., forced...]; read after each forced token's predecessor
          const first = pending.length - forced.length - 1;
          const queries = [
            ...forced.map((t, i) => ({ index: first + i, candidates: [...new Set([t, ...probe])] })),
            { index: pending.length - 1, candidates: candidates! },
          ];
          const dists = await lease.appendAndScoreAt(pending, queries);
          forced.forEach((t, i) => record(t, dists[i]!));
          dist = dists[dists.length - 1]!;
        } else {
          const full = allowed === undefined || (k > 0 && probe.length === 0);
          dist = full
            ? await lease.appendAndDistribution(pending)
            : await lease.appendAndScore(pending, candidates!);
        }
        forced = [];
        let chosen = -1;
        let best = -Infinity;
        const consider = (id: number) => {
          const p = dist.get(id) ?? 0;
          if (p > best) {
            best = p;
            chosen = id;
          }
        };
        if (allowed) for (const id of allowed) consider(id);
        else for (const id of dist.keys()) consider(id);
        record(chosen, dist);
        ids.push(chosen);
        if (eos.has(chosen)) return finish("stop");
        if (constraint) state = constraint.next(state, chosen);
        pending = [chosen];
      }
      if (forced.length > 0 && k > 0 && isSpeculativeScorer(lease)) {
        // the output ended on forced tokens: read their log-probabilities
        const first = pending.length - forced.length - 1;
        const dists = await lease.appendAndScoreAt(
          pending,
          forced.map((t, i) => ({ index: first + i, candidates: [...new Set([t, ...probe])] })),
        );
        forced.forEach((t, i) => record(t, dists[i]!));
      }
      return finish("length");
    },
    { room: request.maxTokens },
  );
}
