/**
 * Qwen3Guard-Gen on remote engines. GenGuard renders and tokenizes as always (content tokenized as plain text);
 * the verdict is decoded by the same constrained decoder as on the embedded engine (constrained-decoder.ts), whose
 * next-token distributions come from remote completions instead of local logits:
 *
 * 1. The first request sends the prompt's ids — or, to a text-only engine (Ollama), the same prompt as text once no
 *    content would be read as a special token — with `Safety:` appended, and asks for the whole rest of the output
 *    held to the format (a regex or GBNF grammar built from the direction's labels), with the log-probabilities of
 *    the format's tokens (or the top k) at every generated position.
 * 2. The decoder makes its choices (tier, categories, `,` or the end, refusal) from those log-probabilities. As
 *    long as it follows the engine's own continuation, every choice is answered from the same response; where it
 *    departs from it (the engine chose a tokenization of a label other than the model's own), a further request
 *    continues from the decoder's path. A trained guard needs one request per verdict.
 * 3. When none of a choice's options was reported (all outside an engine's top k), the option the engine's own
 *    text continues with is taken. For the tier, the probabilities are then bounds (tier-probabilities.ts).
 *
 * So a remote verdict is the embedded verdict whenever the engine reports the options' log-probabilities (vLLM
 * with `logprob_token_ids`, SGLang, qwen3guard: always; top-k engines: when the options are in the top k).
 */
import { RISK_TIERS, type RiskTier } from "../../core/labels.js";
import { joinSegments, type PromptSegment } from "../../core/segments.js";
import type { TierProbabilities, TierProbabilityBounds } from "../../core/verdict.js";
import { decodeConstrained, type DecodedOutput } from "../gen/constrained-decoder.js";
import type { GenOutputVocabulary } from "../gen/output-vocabulary.js";
import type { TokenScorer } from "../gen/token-scorer.js";
import { normalizeText } from "../../model/tokenizer/normalizer.js";
import type { QwenTokenizer } from "../../model/tokenizer/index.js";
import { BackendPool } from "./backend-pool.js";
import { genClientFor, type GenClient, type PositionLogprobs } from "./gen-clients.js";
import { formatConstraint, type FormatConstraint } from "./output-format.js";
import { RemoteInputRefusedError, RemoteProtocolError } from "./remote-errors.js";
import type { ResolvedRemoteBackend, ResolvedRemoteOptions } from "./remote-options.js";
import { readTierProbabilities } from "./tier-probabilities.js";

export interface RemoteGenRequest {
  /** The prompt's ids (fast mode: template and plain-text content). */
  ids: readonly number[];
  /** The rendered prompt, for text-only engines. */
  segments: readonly PromptSegment[];
  vocab: GenOutputVocabulary;
  signal?: AbortSignal | undefined;
}

export interface RemoteGenResult {
  output: DecodedOutput;
  /** The output text from `Safety:` on (special tokens left out). */
  raw: string;
  probabilities: TierProbabilities | undefined;
  bounds: TierProbabilityBounds | undefined;
  /** Output tokens of the verdict (`Safety:` and the end of text included). */
  generated: number;
  /** Completion requests made (1 while the decoder follows the engine's continuation). */
  requests: number;
  /** Attempts over all requests, retries included. */
  attempts: number;
  /** Choices no option's log-probability decided: the engine's own text did. */
  choicesFromText: number;
  backend: ResolvedRemoteBackend;
}

export interface RemoteGenerateResult {
  text: string;
  generated: number;
  attempts: number;
  backend: ResolvedRemoteBackend;
}

/** The special-token texts in content a text-only engine would parse (empty: safe to send as text). */
export function specialTextInContent(segments: readonly PromptSegment[], tokenizer: QwenTokenizer): string[] {
  const found = new Set<string>();
  const joined = joinSegments(segments);
  const templateRanges: [number, number][] = [];
  let at = 0;
  for (const s of segments) {
    if (s.kind === "template") templateRanges.push([at, at + s.text.length]);
    at += s.text.length;
  }
  for (const token of tokenizer.addedTokens) {
    for (let i = joined.indexOf(token.content); i >= 0; i = joined.indexOf(token.content, i + 1)) {
      const end = i + token.content.length;
      if (!templateRanges.some(([a, b]) => a <= i && end <= b)) found.add(token.content);
    }
  }
  return [...found];
}

/** Log-probabilities reported at one position, and what the engine generated from there on. */
interface Speculation {
  /** `appended` length when the request was made: the engine's output starts there. */
  base: number;
  ids: number[];
  positions: PositionLogprobs[];
}

/**
 * The decoder's TokenScorer over remote completions: it answers each next-token distribution from the latest
 * response while the decoder follows the engine's continuation, and asks again from the decoder's path otherwise.
 */
class RemoteScorer implements TokenScorer {
  /** Tokens the decoder appended after the prompt. */
  readonly appended: number[] = [];
  requests = 0;
  attempts = 0;
  /** Choices decided by the engine's own text (no option's log-probability reported). */
  choicesFromText = 0;
  backend: ResolvedRemoteBackend | undefined;
  /** What was reported at the first output position (the tier). */
  first: PositionLogprobs | undefined;
  private spec: Speculation | undefined;

  constructor(
    private readonly engine: RemoteGenEngine,
    private readonly request: RemoteGenRequest,
    private readonly promptText: string,
    private readonly eligible: ((c: GenClient) => boolean) | undefined,
  ) {}

  async appendAndScore(
    tokens: readonly number[],
    candidates: readonly number[],
  ): Promise<Map<number, number>> {
    this.appended.push(...tokens);
    let at = this.speculated();
    if (at === undefined) {
      await this.complete();
      at = 0;
    }
    const spec = this.spec!;
    const position = spec.positions[at]!;
    this.first ??= position;
    const out = new Map<number, number>();
    for (const c of candidates) {
      const lp = position.logprobs.get(c);
      if (lp !== undefined && Number.isFinite(lp)) out.set(c, Math.exp(lp));
    }
    if (out.size === 0) {
      // no option reported: the one the engine's text goes on with
      const rest = this.engine.decodeIds(spec.ids.slice(at));
      let best: number | undefined;
      let bestLength = 0;
      for (const c of candidates) {
        const text = this.engine.decodeIds([c]);
        if (text.length > bestLength && rest.startsWith(text)) {
          best = c;
          bestLength = text.length;
        }
      }
      if (best !== undefined) {
        out.set(best, Number.MIN_VALUE);
        this.choicesFromText++;
      }
    }
    return out;
  }

  /** Index in the latest response of the position after `appended`, if the decoder is still on its path. */
  private speculated(): number | undefined {
    const spec = this.spec;
    if (spec === undefined) return undefined;
    const at = this.appended.length - spec.base;
    if (at < 0 || at >= spec.positions.length) return undefined;
    for (let i = 0; i < at; i++) if (spec.ids[i] !== this.appended[spec.base + i]) return undefined;
    return at;
  }

  private async complete(): Promise<void> {
    const { vocab } = this.request;
    // every request holds the rest of the output to the format: after the decoder's path so far for later ones
    const after = this.appended.slice(vocab.safetyField.length);
    const constraint = this.engine.constraintFor(vocab, this.engine.decodeIds(after), after.length);
    const maxTokens = constraint?.maxTokens ?? 8;
    const appended = [...this.appended];
    const result = await this.engine.pool.run(
      (client, attempt) =>
        client.complete(
          {
            promptIds: [...this.request.ids, ...appended],
            promptText: this.promptText + this.engine.decodeIds(appended),
            maxTokens,
            constraint: client.constrains ? constraint : undefined,
            topLogprobs: client.backend.topLogprobs,
            probeIds: this.engine.probeIds(vocab),
            idOfBytes: (bytes) => this.engine.idOfBytes(bytes),
            contextSize: this.engine.contextSize,
          },
          attempt,
        ),
      { signal: this.request.signal, eligible: this.eligible },
    );
    this.requests++;
    this.attempts += result.attempts;
    this.backend ??= result.backend;
    const { positions } = result.value;
    if (positions.length === 0) {
      throw new RemoteProtocolError(
        result.backend.name,
        "the engine returned no log-probabilities (Ollama needs version 0.12.11 or later; the others return them when asked)",
      );
    }
    const ids = result.value.outputIds ?? positions.map((p) => p.chosen ?? -1);
    this.spec = { base: appended.length, ids, positions };
  }
}

export class RemoteGenEngine {
  readonly pool: BackendPool<GenClient>;
  private readonly constraints = new Map<string, FormatConstraint>();
  private readonly probes = new Map<string, number[]>();
  private readonly tierFirst: number[];
  private bytesToId: Map<string, number> | undefined;

  constructor(
    options: ResolvedRemoteOptions,
    private readonly tokenizer: QwenTokenizer,
    /** Positions a conversation may take (checked by the guard; Ollama's `num_ctx`). */
    readonly contextSize: number,
    vocab: GenOutputVocabulary,
    warn: (message: string) => void,
  ) {
    this.pool = new BackendPool(
      "gen",
      options.backends.map((b) => genClientFor(b)),
      options,
      warn,
    );
    this.tierFirst = RISK_TIERS.map((t) => vocab.tiers[t][0]!);
  }

  /** Requests in flight at most over all backends (the server sizes its Gen queue by it). */
  get capacity(): number {
    return this.pool.clients.reduce((n, c) => n + c.backend.maxOutstanding, 0);
  }

  /** The backends, in configuration order. */
  get backends(): ResolvedRemoteBackend[] {
    return this.pool.clients.map((c) => c.backend);
  }

  /** The format constraint of a direction after `Safety:` and `after` (the decoder's path so far). */
  constraintFor(vocab: GenOutputVocabulary, after: string, usedTokens: number): FormatConstraint | undefined {
    if (after !== "") return formatConstraint(vocab, after, usedTokens);
    let c = this.constraints.get(vocab.direction);
    if (!c) {
      c = formatConstraint(vocab)!;
      this.constraints.set(vocab.direction, c);
    }
    return c;
  }

  /** Every token of the format's options (tiers, categories, None, separator, end of a line, Yes/No). */
  probeIds(vocab: GenOutputVocabulary): number[] {
    let ids = this.probes.get(vocab.direction);
    if (!ids) {
      const all = [
        ...Object.values(vocab.tiers).flat(),
        ...[...vocab.categories.values()].flat(),
        ...vocab.none,
        ...vocab.separator,
        ...vocab.categoriesField,
        ...vocab.end,
        ...(vocab.direction === "response"
          ? [...vocab.refusalField, ...vocab.refusals.Yes, ...vocab.refusals.No]
          : []),
      ];
      ids = [...new Set(all)];
      this.probes.set(vocab.direction, ids);
    }
    return ids;
  }

  /** Text of ids (special tokens left out). */
  decodeIds(ids: readonly number[]): string {
    return this.tokenizer.decode(ids, { skipSpecialTokens: true });
  }

  /** The id of a BPE token given by its bytes (latin1), for engines that report tokens as text. */
  idOfBytes(bytes: string): number | undefined {
    if (this.bytesToId === undefined) {
      this.bytesToId = new Map();
      for (let id = 0; id < this.tokenizer.vocabSize; id++) {
        if (this.tokenizer.idToToken(id) === undefined) continue;
        const key = Buffer.from(this.tokenizer.tokenToBytes(id)).toString("latin1");
        if (!this.bytesToId.has(key)) this.bytesToId.set(key, id);
      }
    }
    return this.bytesToId.get(bytes);
  }

  /** Which backends may take a prompt: all, or only those taking token ids when content holds special-token text. */
  private eligibility(segments: readonly PromptSegment[]): ((c: GenClient) => boolean) | undefined {
    const special = specialTextInContent(segments, this.tokenizer);
    if (special.length === 0) return undefined;
    if (!this.pool.clients.some((c) => c.takesTokenIds)) {
      throw new RemoteInputRefusedError(
        `the conversation holds text a text-only engine would read as special tokens (${special.join(", ")}), ` +
          "and every backend of this guard takes text only (Ollama): refused rather than let content forge the " +
          "template. Add a backend that takes token ids (vLLM, SGLang, llama-server, qwen3guard).",
        special,
      );
    }
    return (c) => c.takesTokenIds;
  }

  private promptText(segments: readonly PromptSegment[]): string {
    return normalizeText(joinSegments(segments), this.tokenizer.normalizer);
  }

  /** Moderate: the fast path's verdict from remote engines. */
  async decode(request: RemoteGenRequest): Promise<RemoteGenResult> {
    const eligible = this.eligibility(request.segments);
    const scorer = new RemoteScorer(this, request, this.promptText(request.segments), eligible);
    const decoded = await decodeConstrained(scorer, [], request.vocab);
    const first = scorer.first!;
    const tiers: Partial<Record<RiskTier, number>> = {};
    RISK_TIERS.forEach((t, i) => {
      const lp = first.logprobs.get(this.tierFirst[i]!);
      if (lp !== undefined && Number.isFinite(lp)) tiers[t] = lp;
    });
    const reading = readTierProbabilities({ tiers, ...(first.topK ? { topK: first.topK } : {}) });
    return {
      output: decoded.output,
      raw: this.decodeIds(decoded.outputIds),
      probabilities: reading.kind === "exact" ? reading.probabilities : undefined,
      bounds: reading.kind === "bounded" ? reading.bounds : undefined,
      generated: decoded.outputIds.length,
      requests: scorer.requests,
      attempts: scorer.attempts,
      choicesFromText: scorer.choicesFromText,
      backend: scorer.backend!,
    };
  }

  /** Reference mode: free greedy decoding of up to `maxTokens` after the (specials-parsed) reference ids. */
  async generate(request: {
    ids: readonly number[];
    text: string;
    maxTokens: number;
    signal?: AbortSignal | undefined;
  }): Promise<RemoteGenerateResult> {
    const result = await this.pool.run(
      (client, attempt) =>
        client.complete(
          {
            promptIds: request.ids,
            promptText: normalizeText(request.text, this.tokenizer.normalizer),
            maxTokens: request.maxTokens,
            constraint: undefined,
            topLogprobs: 0,
            probeIds: [],
            idOfBytes: (bytes) => this.idOfBytes(bytes),
            contextSize: this.contextSize,
          },
          attempt,
        ),
      { signal: request.signal },
    );
    return {
      text: result.value.text,
      generated: result.value.generatedTokens,
      attempts: result.attempts,
      backend: result.backend,
    };
  }

  close(): void {
    this.pool.close();
  }
}
