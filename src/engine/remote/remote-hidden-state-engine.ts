/**
 * Qwen3Guard-Stream's backbone on remote engines (vLLM's `/pooling`, llama-server's `/embeddings`, another
 * qwen3guard server); the heads run here as always. The engines keep no state between requests and reuse no
 * prefix for them, so each decode sends a sequence's whole history with its new tokens and keeps only the new
 * tokens' hidden states: a request for a sequence of L tokens costs the engine L tokens of compute (and its answer
 * L hidden states), however few are new. Tokens are therefore sent in chunks (`chunking`, applied by the decode
 * coalescer): see docs/scale-out.md, "Remote backbone: the cost model".
 */
import { BackendPool } from "./backend-pool.js";
import { hiddenStateClientFor, type HiddenStateClient } from "./hidden-state-clients.js";
import { EngineOptionsError } from "../engine-options.js";
import type { ResolvedRemoteOptions } from "./remote-options.js";
import type { HiddenStateEngine, HiddenStateItem } from "../stream/hidden-state-engine.js";

export class RemoteHiddenStateEngine implements HiddenStateEngine {
  readonly kind = "remote" as const;
  readonly device = "remote";
  readonly pool: BackendPool<HiddenStateClient>;
  readonly chunking: { minTokens: number; maxWaitMs: number };
  /** The tokens each sequence holds (what is re-sent with its next tokens). */
  private readonly held: number[][];

  constructor(
    options: ResolvedRemoteOptions,
    readonly hiddenSize: number,
    readonly sequences: number,
    readonly contextSize: number,
    warn: (message: string) => void,
  ) {
    const clients = options.backends.map((b, i) => {
      const client = hiddenStateClientFor(b, hiddenSize);
      if (client === undefined) {
        throw new EngineOptionsError(
          `remote.backends.${i}.kind`,
          `engine option remote.backends.${i}.kind: "${b.kind}" serves no hidden states; a Stream guard's remote backbone is "vllm" (POST /pooling), "llama-server" (POST /embeddings with --pooling none) or "qwen3guard"`,
        );
      }
      return client;
    });
    this.pool = new BackendPool("stream", clients, options, warn);
    this.chunking = { minTokens: options.chunkTokens, maxWaitMs: options.chunkWaitMs };
    this.held = Array.from({ length: sequences }, () => []);
  }

  /** Tokens sent to the engines so far (for the cost figures). */
  sentTokens = 0;

  async open(seq: number): Promise<void> {
    this.held[seq] = [];
  }

  decode(items: readonly HiddenStateItem[]): Promise<Float32Array[][]> {
    return Promise.all(
      items.map(async (item) => {
        const all = [...this.held[item.seq]!, ...item.tokens];
        if (all.length > this.contextSize) {
          throw new RangeError(
            `sequence ${item.seq} would hold ${all.length} tokens, over the context size ${this.contextSize}`,
          );
        }
        const { value } = await this.pool.run((client, attempt) => client.hiddenStates(all, attempt));
        this.sentTokens += all.length;
        this.held[item.seq] = all;
        return value.slice(all.length - item.tokens.length);
      }),
    );
  }

  async rollback(seq: number, fromPos: number): Promise<void> {
    this.held[seq]!.length = Math.min(this.held[seq]!.length, fromPos);
  }

  async close(seq: number): Promise<void> {
    this.held[seq] = [];
  }

  async dispose(): Promise<void> {
    this.pool.close();
  }
}
