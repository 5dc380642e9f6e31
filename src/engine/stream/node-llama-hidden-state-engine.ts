/**
 * Fallback hidden-state engine on node-llama-cpp, for when the koffi binding is unavailable (its ABI check
 * failed). node-llama-cpp exposes only the LAST token's hidden state of a decode, through an internal path
 * (docs/stream.md, "Engines"): a context created with the undocumented option `_embeddings: true`;
 * after `seq.evaluateWithoutGeneratingNewTokens(tokens)`, `context._ctx.getEmbedding(n)` returns the hidden state
 * of the last token of the last decode, context-wide. Hence one token per decode and one context per sequence,
 * read synchronously right after the decode, all inside the process-wide decode queue.
 * Slower than the binding (no chunking, no cross-sequence batching), same numbers.
 */
import type { Llama, LlamaContext, LlamaContextSequence, LlamaModel, Token } from "node-llama-cpp";
import { llamaDecodeQueue } from "../llama-ffi/index.js";
import { getLlamaRuntime } from "../llama-runtime.js";
import { flashAttentionOf } from "../engine-options.js";
import type { HiddenStateEngine, HiddenStateEngineOptions, HiddenStateItem } from "./hidden-state-engine.js";
import { Qwen3GuardError } from "../../core/errors.js";

/** The internal addon method this engine relies on. */
interface EmbeddingAddonContext {
  getEmbedding(inputTokensLength: number, maxVectorSize?: number): Float64Array;
}

/**
 * The node-llama-cpp fallback of the Stream engine cannot reach the internals it relies on (a node-llama-cpp
 * version other than the one this package pins). Code `NODE_LLAMA_INTERNALS`.
 *
 * @example
 * ```ts
 * import { NodeLlamaInternalsError, StreamGuard } from "qwen3guard";
 *
 * try {
 *   await (await StreamGuard.load({ model: "/models/Qwen3Guard-Stream-0.6B", engine: "node-llama-cpp" })).close();
 * } catch (error) {
 *   if (error instanceof NodeLlamaInternalsError) console.error("reinstall the pinned node-llama-cpp:", error.message);
 *   else throw error;
 * }
 * ```
 */
export class NodeLlamaInternalsError extends Qwen3GuardError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("NODE_LLAMA_INTERNALS", message, options);
  }
}

interface Slot {
  context: LlamaContext;
  sequence: LlamaContextSequence;
  addon: EmbeddingAddonContext;
}

export class NodeLlamaHiddenStateEngine implements HiddenStateEngine {
  readonly kind = "node-llama-cpp" as const;
  private readonly slots: (Slot | undefined)[];

  private constructor(
    readonly llama: Llama,
    readonly model: LlamaModel,
    private readonly options: HiddenStateEngineOptions,
    readonly sequences: number,
    readonly contextSize: number,
  ) {
    this.slots = new Array<Slot | undefined>(sequences).fill(undefined);
  }

  static async create(options: HiddenStateEngineOptions): Promise<NodeLlamaHiddenStateEngine> {
    const llama = await getLlamaRuntime({
      gpu: options.gpu === "auto" ? "auto" : false,
      ...(options.logger ? { logger: options.logger } : {}),
    });
    const model = await llama.loadModel({
      modelPath: options.ggufPath,
      gpuLayers: llama.gpu === false ? 0 : "max",
    });
    return new NodeLlamaHiddenStateEngine(llama, model, options, options.sequences, options.contextSize);
  }

  get hiddenSize(): number {
    return this.model.embeddingVectorSize;
  }

  /** "cpu", "cuda", "vulkan" or "metal". */
  get device(): string {
    return this.llama.gpu === false ? "cpu" : this.llama.gpu;
  }

  private async slot(seq: number): Promise<Slot> {
    if (!Number.isInteger(seq) || seq < 0 || seq >= this.sequences) {
      throw new RangeError(`sequence id ${seq} is out of range (0..${this.sequences - 1})`);
    }
    let slot = this.slots[seq];
    if (slot) return slot;
    const kv = this.options.kvCache === "f32" ? "F32" : "F16";
    const context = await this.model.createContext({
      // a node-llama-cpp sequence holds contextSize - 1 tokens before it shifts: ask for one more
      contextSize: this.contextSize + 1,
      sequences: 1,
      threads: this.options.threads,
      flashAttention: flashAttentionOf(this.options),
      experimentalKvCacheKeyType: kv,
      experimentalKvCacheValueType: kv,
      // internal option: an embeddings context without pooling (per-token hidden states)
      ...({ _embeddings: true } as object),
    });
    const addon = (context as unknown as { _ctx?: Partial<EmbeddingAddonContext> })._ctx;
    if (!addon || typeof addon.getEmbedding !== "function") {
      await context.dispose();
      throw new NodeLlamaInternalsError(
        "node-llama-cpp's context has no internal getEmbedding(): this fallback needs node-llama-cpp 3.21.1 (npm ci)",
      );
    }
    // never shift silently (erasing the prompt would change every later hidden state): overflow is an error
    const sequence = context.getSequence({
      contextShift: {
        strategy: () => {
          throw new RangeError(
            `sequence ${seq} is full (${this.contextSize} positions): the engine never shifts the context`,
          );
        },
      },
    });
    slot = { context, sequence, addon: addon as EmbeddingAddonContext };
    this.slots[seq] = slot;
    return slot;
  }

  async open(seq: number): Promise<void> {
    const slot = await this.slot(seq);
    await llamaDecodeQueue.run(() => slot.sequence.clearHistory());
  }

  async decode(items: readonly HiddenStateItem[]): Promise<Float32Array[][]> {
    const out: Float32Array[][] = [];
    for (const item of items) {
      const slot = await this.slot(item.seq);
      const states: Float32Array[] = [];
      for (const token of item.tokens) {
        const state = await llamaDecodeQueue.run(async () => {
          await slot.sequence.evaluateWithoutGeneratingNewTokens([token as Token]);
          // context-wide "last token of the last decode": read before anything else decodes
          return Float32Array.from(slot.addon.getEmbedding(1));
        });
        states.push(state);
      }
      out.push(states);
    }
    return out;
  }

  async rollback(seq: number, fromPos: number): Promise<void> {
    const slot = await this.slot(seq);
    const end = slot.sequence.nextTokenIndex;
    if (fromPos >= end) return;
    await llamaDecodeQueue.run(() => slot.sequence.eraseContextTokenRanges([{ start: fromPos, end }]));
  }

  async close(seq: number): Promise<void> {
    const slot = this.slots[seq];
    if (slot) await llamaDecodeQueue.run(() => slot.sequence.clearHistory());
  }

  async dispose(): Promise<void> {
    for (const slot of this.slots) await slot?.context.dispose();
    this.slots.fill(undefined);
    await this.model.dispose();
  }
}
