/**
 * Hidden states through the koffi binding over libllama: one embeddings context with one KV sequence per
 * session, every position output, the LM head skipped. A decode may carry several sequences' chunks at once.
 */
import { LlamaFfiContext, LlamaFfiModel, LlamaLibrary, type LlamaLogLevel } from "../llama-ffi/index.js";
import { engineThreads } from "../llama-runtime.js";
import type { HiddenStateEngine, HiddenStateEngineOptions, HiddenStateItem } from "./hidden-state-engine.js";

export class LlamaFfiHiddenStateEngine implements HiddenStateEngine {
  readonly kind = "llama-ffi" as const;

  private constructor(
    readonly library: LlamaLibrary,
    readonly model: LlamaFfiModel,
    readonly context: LlamaFfiContext,
    readonly sequences: number,
  ) {}

  /**
   * Load the GGUF on an already loaded library (see `LlamaLibrary.loadOrWarn`).
   * @throws LlamaFfiError subclasses when the model or the context cannot be created.
   */
  static async create(
    library: LlamaLibrary,
    options: HiddenStateEngineOptions,
  ): Promise<LlamaFfiHiddenStateEngine> {
    const gpu = options.gpu === true || options.gpu === "auto";
    const model = await LlamaFfiModel.load(library, options.ggufPath, {
      gpuLayers: gpu && library.supportsGpuOffload ? 999 : 0,
    });
    const sequences = options.sequences ?? 4;
    try {
      const context = await LlamaFfiContext.create(model, {
        nCtx: (options.contextSize ?? 4096) * sequences,
        nSeqMax: sequences,
        nBatch: options.batchSize ?? 512,
        nUbatch: options.ubatchSize ?? 64,
        embeddings: true,
        kvType: options.kvType ?? "f16",
        flashAttention: options.flashAttention ?? false,
        threads: options.threads ?? engineThreads(),
        skipLmHead: true,
      });
      return new LlamaFfiHiddenStateEngine(library, model, context, sequences);
    } catch (error) {
      model.dispose();
      throw error;
    }
  }

  /** Load the binding (null when its ABI check fails: the caller falls back). */
  static async loadLibrary(
    options: Pick<HiddenStateEngineOptions, "gpu" | "logger">,
    warn?: (m: string) => void,
  ) {
    const logger = options.logger;
    return LlamaLibrary.loadOrWarn(
      {
        gpu: options.gpu === true || options.gpu === "auto",
        ...(logger ? { log: (level: LlamaLogLevel, text: string) => logger(level, text.trimEnd()) } : {}),
      },
      warn,
    );
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
