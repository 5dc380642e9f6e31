/**
 * Gen inference on the project's koffi binding over node-llama-cpp's libllama: next-token logits are read
 * straight from llama.cpp (a few candidates' probabilities cost one pass over the logits row, not a 152k-entry
 * JavaScript Map), and every decode goes through the process-wide decode queue shared with Stream.
 *
 * Concurrent requests share work two ways (docs/engine.md, "Concurrent Gen requests"):
 * - One KV cache for all sequences (llama.cpp's `kv_unified`). Each shared prefix (the template heads of prompt
 *   and response moderation) is evaluated once, into a sequence of its own that no request holds, and given to a
 *   request's sequence with `llama_memory_seq_cp`, which in a unified cache only tags the prefix's cells as that
 *   sequence's too: no copy, no memory, whatever the prefix's length.
 * - Their decodes go through one GenDecodeBatcher, which merges what waits at the same time into multi-sequence
 *   decodes.
 *
 * What each sequence holds (`tokens`) is updated when an operation is submitted, not when it completes: the
 * batcher runs operations in submission order, so a later request choosing a sequence or a prefix, or
 * positioning its tokens, sees the state its own operations will find.
 *
 * The KV cache holds `totalContextSize` positions in all (default contextSize × sequences). A request reserves
 * its prompt plus the room for its verdict, less what it shares; when that does not fit beside the requests in
 * flight, the idle sequences' cells and then the unused shared prefixes are given up, and if it still does not
 * fit the request waits (first come first served) for one in flight to finish.
 */
import { LlamaFfiContext, LlamaFfiModel, type LlamaLibrary } from "../llama-ffi/index.js";
import { EngineOptionsError } from "../engine-options.js";
import {
  candidateProbabilities,
  checkFits,
  VERDICT_ROOM,
  type GenEngine,
  type GenEngineOptions,
  type GenEngineStats,
  type GenLease,
} from "./gen-engine.js";
import { GenDecodeBatcher } from "./gen-batcher.js";
import { retiredMessage, SequencePool, sharedPrefixLength } from "./sequence-pool.js";
import { flashAttentionOf } from "../engine-options.js";
import { ffiDevice } from "../load-backend.js";

/** End-of-generation ids of Qwen3 models: `<|endoftext|>` and `<|im_end|>`. */
const QWEN3_EOG = new Set([151643, 151645]);

/** llama.cpp's LLAMA_MAX_SEQ: sequence ids of a unified KV cache. */
const MAX_SEQUENCES = 256;

/** Logits rows one sequence may ask for in a decode (the fast decode's speculation reads up to 3). */
const OUTPUTS_PER_SEQUENCE = 4;

interface FfiSequence {
  id: number;
  /** Tokens its KV cache holds once every operation submitted so far has run. */
  tokens: number[];
  /** Leading tokens whose cells belong to `from` (given by a copy, not evaluated here). */
  shared: number;
  from: SharedPrefix | null;
  /** Positions reserved by the request that holds it (0: no request is running on it). */
  reserved: number;
  /** Its KV cache could not be emptied after a failure (the pool retired it): never touched again. */
  retired: boolean;
}

interface SharedPrefix {
  ids: readonly number[];
  /** Its own sequence, never held by a request. */
  seq: FfiSequence;
  /** Settles when it is evaluated; null while its sequence is empty. */
  ready: Promise<void> | null;
}

interface Plan {
  /** The shared prefix to give the sequence, or null to keep `keep` tokens of its own. */
  prefix: SharedPrefix | null;
  keep: number;
  /** The prefix's evaluation, when there is one. */
  ready?: Promise<void>;
}

export class FfiGenEngine implements GenEngine {
  readonly kind = "llama-ffi" as const;
  /** Give requests the shared prefixes by copy (tests and benchmarks turn it off to compare). */
  sharePrefixes = true;
  private readonly pool: SequencePool<FfiSequence>;
  private readonly batcher: GenDecodeBatcher;
  private readonly prefixes: SharedPrefix[];
  private readonly roomWaiters: (() => void)[] = [];
  private readonly counters = {
    sharedPrefixEvaluations: 0,
    sharedPrefixTokens: 0,
    sharedPrefixCopies: 0,
    roomWaits: 0,
    evictions: 0,
  };

  private constructor(
    private readonly model: LlamaFfiModel,
    private readonly context: LlamaFfiContext,
    readonly device: string,
    readonly contextSize: number,
    /** KV cells in all (the option, rounded up by llama.cpp). */
    readonly totalContextSize: number,
    private readonly sequences: FfiSequence[],
    prefixes: readonly (readonly number[])[],
    warn: (message: string) => void,
  ) {
    this.batcher = new GenDecodeBatcher(context, {
      maxTokens: context.nBatch,
      maxOutputs: context.nSeqMax * OUTPUTS_PER_SEQUENCE,
    });
    this.prefixes = prefixes.map((ids, i) => ({
      ids: [...ids],
      seq: newSequence(sequences.length + i),
      ready: null,
    }));
    this.pool = new SequencePool(sequences, {
      reset: async (seq) => {
        // What a failed request left is unknown: empty the whole sequence, whatever `tokens` says.
        seq.tokens.length = 0;
        seq.shared = 0;
        seq.from = null;
        try {
          await this.batcher.remove(seq.id, 0);
        } catch (error) {
          seq.retired = true;
          throw error;
        }
        seq.retired = false;
        this.wakeRoomWaiter();
      },
      onRetire: (error, live) => warn(retiredMessage(error, live)),
    });
  }

  /** Load the GGUF on the process's libllama (see `loadOnBackend`). */
  static async load(library: LlamaLibrary, options: GenEngineOptions): Promise<FfiGenEngine> {
    const nSeq = options.sequences;
    const total = options.totalContextSize ?? options.contextSize * nSeq;
    if (!Number.isInteger(total) || total < options.contextSize) {
      throw new EngineOptionsError(
        "totalContextSize",
        `engine option totalContextSize: expected an integer of at least contextSize (${options.contextSize}), got ${total}`,
      );
    }
    const prefixes = (options.sharedPrefixes ?? []).filter((p) => p.length > 0);
    const shared = nSeq + prefixes.length <= MAX_SEQUENCES ? prefixes : [];
    const onGpu = options.gpu === "auto" && library.supportsGpuOffload;
    const model = await LlamaFfiModel.load(library, options.ggufPath, { gpuLayers: onGpu ? 999 : 0 });
    try {
      const nSeqMax = nSeq + shared.length;
      const context = await LlamaFfiContext.create(model, {
        nCtx: total,
        nSeqMax,
        kvUnified: true,
        nBatch: options.batchSize,
        nUbatch: options.ubatchSize === "auto" ? options.batchSize : options.ubatchSize,
        // A decode reads the logits of each sequence's last token, or of a few when the fast decode speculates.
        nOutputsMax: nSeqMax * OUTPUTS_PER_SEQUENCE,
        embeddings: false,
        flashAttention: flashAttentionOf(options),
        kvType: options.kvCache,
        threads: options.threads,
      });
      const device = ffiDevice(library, onGpu);
      const sequences = Array.from({ length: nSeq }, (_, id) => newSequence(id));
      return new FfiGenEngine(
        model,
        context,
        device,
        options.contextSize,
        context.nCtx,
        sequences,
        shared,
        options.warn,
      );
    } catch (error) {
      await model.dispose();
      throw error;
    }
  }

  /** Merge concurrent requests' decodes (tests and benchmarks turn it off to compare). */
  get mergeDecodes(): boolean {
    return this.batcher.merge;
  }
  set mergeDecodes(value: boolean) {
    this.batcher.merge = value;
  }

  get stats(): Readonly<GenEngineStats> {
    const b = this.batcher.stats;
    return {
      decodes: b.decodes,
      mergedDecodes: b.mergedDecodes,
      tokens: b.tokens,
      maxSequencesPerDecode: b.maxSequencesPerDecode,
      ...this.counters,
    };
  }

  async withSequence<T>(
    promptIds: readonly number[],
    work: (tail: number[], lease: GenLease) => Promise<T>,
    options: { reuse?: boolean; room?: number } = {},
  ): Promise<T> {
    const room = options.room ?? VERDICT_ROOM;
    checkFits(promptIds.length, this.contextSize, room);
    return this.pool.use(promptIds, async (seq) => {
      try {
        const plan = await this.admit(seq, promptIds, promptIds.length + room, options.reuse !== false);
        if (plan.prefix) {
          await plan.ready;
          void this.trim(seq, 0).catch(() => undefined);
          void this.copyPrefix(plan.prefix, seq, plan.keep).catch(() => undefined);
        } else if (plan.keep < seq.tokens.length) {
          // A failure here fails the decode that follows it in the batcher, which the request then sees.
          void this.trim(seq, plan.keep).catch(() => undefined);
        }
        return await work(promptIds.slice(plan.keep), new FfiLease(this, seq, plan.keep));
      } finally {
        seq.reserved = 0;
        this.wakeRoomWaiter();
      }
    });
  }

  /**
   * Empty every sequence no request runs on; the shared prefixes stay. Benchmarks start each round from the same
   * state with it (a long-idle guard whose sequences were given up for room looks the same).
   */
  async forgetSequences(): Promise<void> {
    await Promise.all(
      this.sequences.filter((s) => s.reserved === 0 && !s.retired).map((s) => this.trim(s, 0)),
    );
  }

  async dispose(): Promise<void> {
    await this.context.dispose();
    await this.model.dispose();
  }

  /**
   * Append tokens to a sequence; resolves with what `read` takes from the logits after each token in `outputAt`
   * (default: the last). The rows are llama.cpp's own, read in place (GenDecodeBatcher.decode): `read` must not
   * keep them.
   */
  append<T>(
    seq: FfiSequence,
    tokens: readonly number[],
    outputAt: readonly number[] | undefined,
    read: (rows: readonly Float32Array[]) => T,
  ): Promise<T> {
    const pos = seq.tokens.length;
    seq.tokens.push(...tokens);
    return this.batcher.decode(seq.id, tokens, pos, outputAt, read);
  }

  /** Forget the tokens of a sequence from `keep` on. */
  trim(seq: FfiSequence, keep: number): Promise<void> {
    if (keep >= seq.tokens.length) return Promise.resolve();
    seq.tokens.length = keep;
    if (seq.shared > keep) seq.shared = keep;
    if (seq.shared === 0) seq.from = null;
    return this.batcher.remove(seq.id, keep);
  }

  private copyPrefix(prefix: SharedPrefix, seq: FfiSequence, length: number): Promise<void> {
    seq.tokens.splice(0, seq.tokens.length, ...prefix.ids.slice(0, length));
    seq.shared = length;
    seq.from = prefix;
    this.counters.sharedPrefixCopies++;
    return this.batcher.copy(prefix.seq.id, seq.id, 0, length);
  }

  private loadPrefix(prefix: SharedPrefix): Promise<void> {
    const ready = this.append(prefix.seq, prefix.ids, undefined, () => undefined);
    prefix.ready = ready;
    this.counters.sharedPrefixEvaluations++;
    this.counters.sharedPrefixTokens += prefix.ids.length;
    ready.catch(() => {
      // Evaluated again by the next request that needs it.
      if (prefix.ready !== ready) return;
      prefix.ready = null;
      void this.trim(prefix.seq, 0).catch(() => undefined);
    });
    return ready;
  }

  /** Wait until the request fits in the KV cache; returns what to keep of `seq` or which prefix to give it. */
  private async admit(
    seq: FfiSequence,
    prompt: readonly number[],
    reserve: number,
    reuse: boolean,
  ): Promise<Plan> {
    // First come first served: a newcomer does not try while others wait for room.
    let plan = this.roomWaiters.length === 0 ? this.tryAdmit(seq, prompt, reserve, reuse) : null;
    if (plan) return plan;
    this.counters.roomWaits++;
    for (let first = false; ; first = true) {
      // Woken and still without room, a request goes back to the head of the line.
      await new Promise<void>((resolve) =>
        first ? this.roomWaiters.unshift(resolve) : this.roomWaiters.push(resolve),
      );
      plan = this.tryAdmit(seq, prompt, reserve, reuse);
      if (plan) {
        this.wakeRoomWaiter(); // there may be room for the next one too
        return plan;
      }
    }
  }

  private wakeRoomWaiter(): void {
    this.roomWaiters.shift()?.();
  }

  private tryAdmit(
    seq: FfiSequence,
    prompt: readonly number[],
    reserve: number,
    reuse: boolean,
  ): Plan | null {
    const limit = prompt.length - 1; // at least one token is evaluated: its logits are needed
    const own = reuse ? Math.min(sharedPrefixLength(seq.tokens, prompt), limit) : 0;
    let best: SharedPrefix | null = null;
    let bestKeep = own;
    if (reuse && this.sharePrefixes) {
      for (const p of this.prefixes) {
        const k = Math.min(sharedPrefixLength(p.ids, prompt), limit);
        if (k > bestKeep) {
          best = p;
          bestKeep = k;
        }
      }
    }
    const plans: Plan[] = [...(best ? [{ prefix: best, keep: bestKeep }] : []), { prefix: null, keep: own }];
    for (let step = 0; ; step++) {
      for (const plan of plans) {
        if (this.fits(seq, plan, reserve)) return this.commit(seq, plan, reserve);
      }
      if (!this.evict(step, seq, best)) return null;
    }
  }

  /** Give up cells nobody uses now, a little more at each step; false when nothing is left to give up. */
  private evict(step: number, seq: FfiSequence, wanted: SharedPrefix | null): boolean {
    if (step === 0) {
      // Sequences no request runs on (idle, or held by a request still waiting): their tokens.
      for (const s of this.sequences) {
        if (s === seq || s.reserved > 0 || s.retired || s.tokens.length === 0) continue;
        this.counters.evictions++;
        void this.trim(s, 0).catch(() => undefined);
      }
      return true;
    }
    if (step === 1 || step === 2) {
      // Shared prefixes no running request uses (the one this request would use last).
      for (const p of this.prefixes) {
        if (!p.ready || (step === 1 && p === wanted)) continue;
        if (this.sequences.some((s) => s.reserved > 0 && s.from === p)) continue;
        this.counters.evictions++;
        p.ready = null;
        void this.trim(p.seq, 0).catch(() => undefined);
        for (const s of this.sequences) {
          if (s.from !== p) continue;
          s.from = null;
          s.shared = 0;
        }
      }
      return true;
    }
    return false;
  }

  /** Whether `seq` can run `plan` (up to `reserve` positions) beside everything else the cache holds. */
  private fits(seq: FfiSequence, plan: Plan, reserve: number): boolean {
    let used = 0;
    for (const p of this.prefixes) if (p.ready || p === plan.prefix) used += p.ids.length;
    // A retired sequence's cells are unknown: not counted (at worst a decode then fails with kv-full, never a hang).
    for (const s of this.sequences) if (s !== seq && !s.retired) used += cellsOf(s);
    const shared = plan.prefix ? plan.keep : seq.from?.ready ? Math.min(seq.shared, plan.keep) : 0;
    return used + reserve - shared <= this.totalContextSize;
  }

  private commit(seq: FfiSequence, plan: Plan, reserve: number): Plan {
    seq.reserved = reserve;
    if (plan.prefix) {
      // Counted as given from now on; the copy itself follows the prefix's evaluation.
      seq.from = plan.prefix;
      seq.shared = plan.keep;
      const ready = plan.prefix.ready ?? this.loadPrefix(plan.prefix);
      return { ...plan, ready };
    }
    return plan;
  }
}

function newSequence(id: number): FfiSequence {
  return { id, tokens: [], shared: 0, from: null, reserved: 0, retired: false };
}

/** KV cells a sequence holds or has reserved, not counting those it shares with a live prefix. */
function cellsOf(s: FfiSequence): number {
  return Math.max(s.reserved, s.tokens.length) - (s.from?.ready ? s.shared : 0);
}

class FfiLease implements GenLease {
  constructor(
    private readonly engine: FfiGenEngine,
    private readonly seq: FfiSequence,
    readonly reusedTokens: number,
  ) {}

  /**
   * Evaluate `tokens` and hand `read` the logits after the last one, in place: `read` takes what it needs from the
   * row, which is llama.cpp's own and not a copy (no 0.6 MB array per decode), and must not keep it.
   */
  private async logitsAfter<T>(tokens: readonly number[], read: (logits: Float32Array) => T): Promise<T> {
    if (tokens.length === 0) throw new Error("at least one token must be evaluated to read a distribution");
    return this.engine.append(this.seq, tokens, undefined, (rows) => read(rows[0]!));
  }

  async appendAndScore(
    tokens: readonly number[],
    candidates: readonly number[],
  ): Promise<Map<number, number>> {
    return this.logitsAfter(tokens, (logits) => candidateProbabilities(logits, candidates));
  }

  async appendAndScoreAt(
    tokens: readonly number[],
    queries: readonly { index: number; candidates: readonly number[] }[],
  ): Promise<Map<number, number>[]> {
    return this.engine.append(
      this.seq,
      tokens,
      queries.map((q) => q.index),
      (rows) => queries.map((q, i) => candidateProbabilities(rows[i]!, q.candidates)),
    );
  }

  async rollback(count: number): Promise<void> {
    if (count <= 0) return;
    // Submitted now, run before this sequence's next decode: the request need not wait for it.
    void this.engine.trim(this.seq, this.seq.tokens.length - count).catch(() => undefined);
  }

  async appendAndDistribution(tokens: readonly number[]): Promise<Map<number, number>> {
    return this.logitsAfter(tokens, (logits) =>
      candidateProbabilities(
        logits,
        Array.from({ length: logits.length }, (_, i) => i),
      ),
    );
  }

  async evaluateOnly(tokens: readonly number[]): Promise<void> {
    return this.logitsAfter(tokens, () => undefined);
  }

  async generateGreedy(
    prompt: readonly number[],
    maxTokens: number,
    options: { stopAtEog?: boolean } = {},
  ): Promise<number[]> {
    const stopAtEog = options.stopAtEog ?? true;
    const out: number[] = [];
    let next: readonly number[] = prompt;
    while (out.length < maxTokens) {
      const best = await this.logitsAfter(next, (logits) => {
        let argmax = 0;
        for (let i = 1; i < logits.length; i++) if (logits[i]! > logits[argmax]!) argmax = i;
        return argmax;
      });
      if (stopAtEog && QWEN3_EOG.has(best)) break;
      out.push(best);
      next = [best];
    }
    return out;
  }
}
