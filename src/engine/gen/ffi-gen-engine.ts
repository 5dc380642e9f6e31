/**
 * Gen inference on the project's koffi binding over node-llama-cpp's libllama: next-token logits are read
 * straight from llama.cpp (a few candidates' probabilities cost one pass over the logits row, not a 152k-entry
 * JavaScript Map), and every decode goes through the process-wide decode queue shared with Stream.
 */
import { LlamaFfiContext, LlamaFfiModel, type LlamaLibrary } from "../llama-ffi/index.js";
import {
  candidateProbabilities,
  checkFits,
  type GenEngine,
  type GenEngineOptions,
  type GenLease,
} from "./gen-engine.js";
import { retiredMessage, SequencePool, sharedPrefixLength } from "./sequence-pool.js";
import { flashAttentionOf } from "../engine-options.js";
import { ffiDevice } from "../load-backend.js";

/** End-of-generation ids of Qwen3 models: `<|endoftext|>` and `<|im_end|>`. */
const QWEN3_EOG = new Set([151643, 151645]);

interface FfiSequence {
  id: number;
  tokens: number[];
}

export class FfiGenEngine implements GenEngine {
  readonly kind = "llama-ffi" as const;
  private readonly pool: SequencePool<FfiSequence>;

  private constructor(
    private readonly model: LlamaFfiModel,
    private readonly context: LlamaFfiContext,
    readonly device: string,
    readonly contextSize: number,
    sequences: FfiSequence[],
    warn: (message: string) => void,
  ) {
    this.pool = new SequencePool(sequences, {
      reset: async (seq) => {
        await this.context.seqRemove(seq.id, 0);
        seq.tokens.length = 0;
      },
      onRetire: (error, live) => warn(retiredMessage(error, live)),
    });
  }

  /** Load the GGUF on the process's libllama (see `loadOnBackend`). */
  static async load(library: LlamaLibrary, options: GenEngineOptions): Promise<FfiGenEngine> {
    const onGpu = options.gpu === "auto" && library.supportsGpuOffload;
    const model = await LlamaFfiModel.load(library, options.ggufPath, { gpuLayers: onGpu ? 999 : 0 });
    const nSeq = options.sequences;
    try {
      const context = await LlamaFfiContext.create(model, {
        nCtx: options.contextSize * nSeq,
        nSeqMax: nSeq,
        nBatch: options.batchSize,
        nUbatch: options.ubatchSize === "auto" ? options.batchSize : options.ubatchSize,
        // A decode reads the logits of its last token, or of a few when the fast decode speculates.
        nOutputsMax: nSeq * 4,
        embeddings: false,
        flashAttention: flashAttentionOf(options),
        kvType: options.kvCache,
        threads: options.threads,
      });
      const device = ffiDevice(library, onGpu);
      const sequences = Array.from({ length: nSeq }, (_, id) => ({ id, tokens: [] }));
      return new FfiGenEngine(model, context, device, context.nCtxPerSeq, sequences, options.warn);
    } catch (error) {
      await model.dispose();
      throw error;
    }
  }

  async withSequence<T>(
    promptIds: readonly number[],
    work: (tail: number[], lease: GenLease) => Promise<T>,
    options: { reuse?: boolean; room?: number } = {},
  ): Promise<T> {
    checkFits(promptIds.length, this.contextSize, options.room);
    return this.pool.use(promptIds, async (seq) => {
      // Keep the longest common prefix, but re-evaluate at least the last prompt token (its logits are needed).
      const keep =
        options.reuse === false
          ? 0
          : Math.min(sharedPrefixLength(seq.tokens, promptIds), promptIds.length - 1);
      if (keep < seq.tokens.length) {
        await this.context.seqRemove(seq.id, keep);
        seq.tokens.length = keep;
      }
      return work(promptIds.slice(keep), new FfiLease(this.context, seq, keep));
    });
  }

  async dispose(): Promise<void> {
    await this.context.dispose();
    await this.model.dispose();
  }
}

class FfiLease implements GenLease {
  constructor(
    private readonly context: LlamaFfiContext,
    private readonly seq: FfiSequence,
    readonly reusedTokens: number,
  ) {}

  /**
   * Evaluate `tokens` and read the logits after the last one in place (LlamaFfiContext.readLogits): `read` must
   * take what it needs from the row, which is not a copy (no 0.6 MB array per decode).
   */
  private async logitsAfter<T>(tokens: readonly number[], read: (logits: Float32Array) => T): Promise<T> {
    if (tokens.length === 0) throw new Error("at least one token must be evaluated to read a distribution");
    return this.context.readLogits([{ seq: this.seq.id, tokens, pos: this.seq.tokens.length }], (rows) => {
      this.seq.tokens.push(...tokens);
      return read(rows[0]![0]!);
    });
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
    return this.context.readLogits(
      [{ seq: this.seq.id, tokens, pos: this.seq.tokens.length, outputAt: queries.map((q) => q.index) }],
      (rows) => {
        this.seq.tokens.push(...tokens);
        return queries.map((q, i) => candidateProbabilities(rows[0]![i]!, q.candidates));
      },
    );
  }

  async rollback(count: number): Promise<void> {
    if (count <= 0) return;
    const keep = this.seq.tokens.length - count;
    await this.context.seqRemove(this.seq.id, keep);
    this.seq.tokens.length = keep;
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
