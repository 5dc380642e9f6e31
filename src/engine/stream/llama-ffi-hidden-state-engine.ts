/**
 * Hidden states through the koffi binding over libllama: one embeddings context with one KV sequence per
 * session, every position output, the LM head skipped. A decode may carry several sequences' chunks at once.
 */
import { LlamaFfiContext, LlamaFfiModel, type LlamaLibrary } from "../llama-ffi/index.js";
import { flashAttentionOf } from "../engine-options.js";
import { ffiDevice } from "../load-backend.js";
import type { HiddenStateEngine, HiddenStateEngineOptions, HiddenStateItem } from "./hidden-state-engine.js";

export class LlamaFfiHiddenStateEngine implements HiddenStateEngine {
  readonly kind = "llama-ffi" as const;

  private constructor(
    readonly library: LlamaLibrary,
    readonly model: LlamaFfiModel,
    readonly context: LlamaFfiContext,
    readonly sequences: number,
    readonly device: string,
  ) {}

  /**
   * Load the GGUF on the process's libllama (see `loadOnBackend`).
   * @throws LlamaFfiError subclasses when the model or the context cannot be created.
   */
  static async create(
    library: LlamaLibrary,
    options: HiddenStateEngineOptions,
  ): Promise<LlamaFfiHiddenStateEngine> {
    const onGpu = options.gpu === "auto" && library.supportsGpuOffload;
    const model = await LlamaFfiModel.load(library, options.ggufPath, { gpuLayers: onGpu ? 999 : 0 });
    const sequences = options.sequences;
    try {
      const context = await LlamaFfiContext.create(model, {
        nCtx: options.contextSize * sequences,
        nSeqMax: sequences,
        nBatch: options.batchSize,
        // every position is an output: a small ubatch keeps the compute buffer small
        nUbatch: options.ubatchSize === "auto" ? 64 : options.ubatchSize,
        embeddings: true,
        kvType: options.kvCache,
        flashAttention: flashAttentionOf(options),
        threads: options.threads,
        skipLmHead: true,
      });
      return new LlamaFfiHiddenStateEngine(library, model, context, sequences, ffiDevice(library, onGpu));
    } catch (error) {
      model.dispose();
      throw error;
    }
  }

  get hiddenSize(): number {
    return this.model.nEmbd;
  }

  get contextSize(): number {
    return this.context.nCtxPerSeq;
  }

  async open(seq: number): Promise<void> {
    await this.context.seqRemove(seq, 0);
  }

  decode(items: readonly HiddenStateItem[]): Promise<Float32Array[][]> {
    return this.context.decode(items.map((i) => ({ seq: i.seq, tokens: i.tokens })));
  }

  async rollback(seq: number, fromPos: number): Promise<void> {
    await this.context.seqRemove(seq, fromPos);
  }

  async close(seq: number): Promise<void> {
    await this.context.seqRemove(seq, 0);
  }

  async dispose(): Promise<void> {
    await this.context.dispose();
    this.model.dispose();
  }
}
