/**
 * A llama.cpp context (KV cache + compute buffers) over the koffi binding: batched, multi-sequence decodes that
 * return the post-final-norm hidden state of EVERY position (embeddings contexts), or next-token logits.
 *
 * Every decode, removal and disposal of every context goes through the process-wide `llamaDecodeQueue`, so no two
 * llama.cpp computations overlap and the KV cache is never touched while a decode runs on its worker thread.
 */
import os from "node:os";
import koffi from "koffi";
import { llamaDecodeQueue } from "./decodeQueue.js";
import {
  LlamaDecodeError,
  LlamaFfiDisposedError,
  LlamaFfiInputError,
  LlamaFfiNativeError,
} from "./errors.js";
import type { LlamaBatchStruct, LlamaNative, Ptr } from "./llamaAbi.js";
import { LLAMA_HEADER } from "./llamaHeader.generated.js";
import type { LlamaFfiModel } from "./LlamaFfiModel.js";
import { LmHeadSkip } from "./LmHeadSkip.js";

export interface LlamaFfiContextOptions {
  /**
   * KV cells in all. Unless kvUnified, each sequence gets nCtx / nSeqMax cells, rounded up to a multiple of 256
   * (llama.cpp pads per-sequence caches; read nCtxPerSeq for the value used). Default 2048.
   */
  nCtx?: number;
  /** Most tokens per llama_decode call; longer inputs are split into several decodes. Default 512. */
  nBatch?: number;
  /** Tokens per graph computation; small keeps the compute buffer small. Default 64. */
  nUbatch?: number;
  /** Distinct sequences (ids 0 .. nSeqMax-1). Default 1. */
  nSeqMax?: number;
  /** One KV buffer shared by all sequences. Default false (each sequence has its own nCtx/nSeqMax cells). */
  kvUnified?: boolean;
  /** true: decode() returns hidden states of every position. false: decodeLogits() returns next-token logits. Default true. */
  embeddings?: boolean;
  /** Flash attention (computes attention in F16 on CPU). Default false. */
  flashAttention?: boolean | "auto";
  /** KV cache element type. "f32" matches an F32 reference to ~1e-6; "f16" halves the memory. Default "f16". */
  kvType?: "f32" | "f16";
  /** Compute threads. Default os.availableParallelism() (never more: spinning threads collapse). */
  threads?: number;
  /** Stop each graph after the final norm so the LM head never runs (embeddings contexts only). Default false. */
  skipLmHead?: boolean;
  /**
   * Most outputs one llama_decode call may ask for; longer inputs are split into several calls. llama.cpp's
   * output buffer holds a vocabulary-sized row of logits per output (~0.6 MiB with Qwen3's 151,936 tokens: ~300 MiB
   * for 512 outputs), zero-filled, so resident, and never shrunk; in an embeddings context those logits are never
   * read (garbage with skipLmHead). Default: nBatch for a logits context (one that reads only the last token of each
   * item should pass a few per sequence), nUbatch for an embeddings context (every position is an output; llama.cpp
   * computes nUbatch tokens at a time anyway, so the split costs nothing).
   */
  nOutputsMax?: number;
}

/** Tokens to append to one sequence. */
export interface DecodeItem {
  seq: number;
  tokens: readonly number[];
  /** Position of the first token. Default: seqPosMax(seq) + 1 (continue the sequence). */
  pos?: number;
  /**
   * decodeLogitsAt only: indices into `tokens` whose next-token logits to return, ascending (default: the last).
   */
  outputAt?: readonly number[];
}

function positiveInt(name: string, value: number): number {
  if (!Number.isInteger(value) || value <= 0)
    throw new LlamaFfiInputError(`${name} must be a positive integer, got ${value}`);
  return value;
}

export class LlamaFfiContext {
  private handle: Ptr | null;
  private readonly memory: Ptr;
  private readonly batch: LlamaBatchStruct;
  private readonly tokenView: Int32Array;
  private readonly posView: Int32Array;
  private readonly nSeqIdView: Int32Array;
  private readonly seqIdViews: Int32Array[];
  private readonly outputView: Int8Array;
  private busy = false;

  private constructor(
    readonly model: LlamaFfiModel,
    handle: Ptr,
    readonly embeddings: boolean,
    /** The LM-head skip callback, when enabled (its counters are instrumentation). */
    readonly lmHeadSkip: LmHeadSkip | null,
    /** Most outputs one llama_decode call asks for (see LlamaFfiContextOptions.nOutputsMax). */
    readonly nOutputsMax: number,
    /** One KV buffer shared by every sequence (the `kvUnified` option). */
    readonly kvUnified = false,
  ) {
    this.handle = handle;
    const n = this.native;
    this.memory = n.llama_get_memory(handle);
    const nBatch = n.llama_n_batch(handle);
    this.batch = n.llama_batch_init(nBatch, 0, 1);
    const ints = (p: Ptr | null, count: number) => new Int32Array(koffi.view(p, count * 4));
    this.tokenView = ints(this.batch.token, nBatch);
    this.posView = ints(this.batch.pos, nBatch);
    this.nSeqIdView = ints(this.batch.n_seq_id, nBatch);
    const seqPtrs = koffi.decode(this.batch.seq_id, "void *", nBatch) as Ptr[];
    this.seqIdViews = seqPtrs.map((p) => ints(p, 1));
    this.outputView = new Int8Array(koffi.view(this.batch.logits, nBatch));
  }

  /** Create a context. Throws LlamaFfiInputError for bad options, LlamaFfiNativeError if llama.cpp refuses. */
  static async create(model: LlamaFfiModel, options: LlamaFfiContextOptions = {}): Promise<LlamaFfiContext> {
    const embeddings = options.embeddings ?? true;
    const nCtx = positiveInt("nCtx", options.nCtx ?? 2048);
    const nBatch = positiveInt("nBatch", options.nBatch ?? 512);
    const nUbatch = positiveInt("nUbatch", Math.min(options.nUbatch ?? 64, nBatch));
    const nSeqMax = positiveInt("nSeqMax", options.nSeqMax ?? 1);
    const threads = positiveInt("threads", options.threads ?? os.availableParallelism());
    const kvUnified = options.kvUnified ?? false;
    const nOutputsMax = positiveInt(
      "nOutputsMax",
      Math.min(options.nOutputsMax ?? (embeddings ? nUbatch : nBatch), nBatch),
    );
    // llama.cpp pads each sequence's share to 256 cells (and warns when n_ctx is not a multiple): do it here
    const nCtxCells = kvUnified ? nCtx : nSeqMax * Math.ceil(Math.ceil(nCtx / nSeqMax) / 256) * 256;
    if (options.skipLmHead && !embeddings) {
      throw new LlamaFfiInputError("skipLmHead needs embeddings: true (a logits context needs the LM head)");
    }
    const c = LLAMA_HEADER.constants;
    const n = model.library.native;
    const params = n.llama_context_default_params();
    Object.assign(params, {
      n_ctx: nCtxCells,
      n_batch: nBatch,
      n_ubatch: nUbatch,
      n_seq_max: nSeqMax,
      n_threads: threads,
      n_threads_batch: threads,
      embeddings,
      pooling_type: c.LLAMA_POOLING_TYPE_NONE,
      flash_attn_type:
        options.flashAttention === "auto"
          ? c.LLAMA_FLASH_ATTN_TYPE_AUTO
          : options.flashAttention
            ? c.LLAMA_FLASH_ATTN_TYPE_ENABLED
            : c.LLAMA_FLASH_ATTN_TYPE_DISABLED,
      type_k: options.kvType === "f32" ? c.GGML_TYPE_F32 : c.GGML_TYPE_F16,
      type_v: options.kvType === "f32" ? c.GGML_TYPE_F32 : c.GGML_TYPE_F16,
      kv_unified: kvUnified,
      no_perf: true,
      n_outputs_max: nOutputsMax,
    });
    const skip = options.skipLmHead ? new LmHeadSkip() : null;
    if (skip) params.cb_eval = skip.pointer;
    const handle = await llamaDecodeQueue.run(
      () =>
        new Promise<Ptr | null>((resolve, reject) =>
          n.llama_init_from_model.async(model.pointer, params, (err, res) =>
            err ? reject(err as Error) : resolve(res),
          ),
        ),
    );
    if (!handle) {
      skip?.dispose();
      throw new LlamaFfiNativeError(
        `llama.cpp could not create a context (nCtx ${nCtx}, nBatch ${nBatch}, nUbatch ${nUbatch}, nSeqMax ${nSeqMax}): out of memory or invalid options (see llama.cpp's log)`,
      );
    }
    model.attachContext(1);
    return new LlamaFfiContext(model, handle, embeddings, skip, nOutputsMax, kvUnified);
  }

  private get native(): LlamaNative {
    return this.model.library.native;
  }

  private get ctx(): Ptr {
    if (this.handle === null) throw new LlamaFfiDisposedError("the context was disposed");
    return this.handle;
  }

  /** KV cells in all. */
  get nCtx(): number {
    return this.native.llama_n_ctx(this.ctx);
  }
  /** KV cells available to one sequence. */
  get nCtxPerSeq(): number {
    return this.native.llama_n_ctx_seq(this.ctx);
  }
  get nBatch(): number {
    return this.native.llama_n_batch(this.ctx);
  }
  get nUbatch(): number {
    return this.native.llama_n_ubatch(this.ctx);
  }
  get nSeqMax(): number {
    return this.native.llama_n_seq_max(this.ctx);
  }
  get nEmbd(): number {
    return this.model.nEmbd;
  }
  get nVocab(): number {
    return this.model.nVocab;
  }
  get disposed(): boolean {
    return this.handle === null;
  }

  /**
   * Append tokens to sequences in one batched decode; returns, per item, one copied hidden state (post final norm,
   * length nEmbd) per token. Items may name different sequences (and the same one more than once, in order).
   */
  async decode(items: readonly DecodeItem[]): Promise<Float32Array[][]> {
    if (!this.embeddings)
      throw new LlamaFfiInputError(
        "decode() needs a context created with embeddings: true (use decodeLogits())",
      );
    return this.run(items, "all");
  }

  /** Append tokens (logits contexts); returns, per item, the next-token logits after its last token (length nVocab). */
  async decodeLogits(items: readonly DecodeItem[]): Promise<Float32Array[]> {
    if (this.embeddings)
      throw new LlamaFfiInputError("decodeLogits() needs a context created with embeddings: false");
    const out = await this.run(items, "last");
    return out.map((rows) => {
      const last = rows[rows.length - 1];
      if (!last) throw new LlamaFfiInputError("decodeLogits() needs at least one token per item");
      return last;
    });
  }

  /**
   * Like decodeLogits, but returns, per item, the logits after each token listed in its `outputAt` (in that
   * order): one decode can read several positions (e.g. to verify speculated tokens).
   */
  async decodeLogitsAt(items: readonly DecodeItem[]): Promise<Float32Array[][]> {
    this.checkLogitsItems("decodeLogitsAt", items);
    return this.run(items, "last");
  }

  /**
   * Like decodeLogitsAt, but the rows are not copied: `read` gets them as views into llama.cpp's output buffer
   * (per item, the logits after each token of its `outputAt`, or after its last token). They are valid only while
   * `read` runs — it runs inside the decode queue, so no other decode can overwrite them — and must not be kept:
   * return what is needed from them. Reading a few values of a 151,936-token row this way spares a 0.6 MB array
   * per decode (garbage that piled up outside the JS heap until the next GC). `read` runs only after a successful
   * decode.
   */
  async readLogits<T>(items: readonly DecodeItem[], read: (rows: Float32Array[][]) => T): Promise<T> {
    this.checkLogitsItems("readLogits", items);
    return this.runThen(items, "last", true, read);
  }

  private checkLogitsItems(method: string, items: readonly DecodeItem[]): void {
    if (this.embeddings)
      throw new LlamaFfiInputError(`${method}() needs a context created with embeddings: false`);
    for (const [i, item] of items.entries()) {
      const at = item.outputAt ?? [];
      if (
        at.some(
          (k, j) => !Number.isInteger(k) || k < 0 || k >= item.tokens.length || (j > 0 && k <= at[j - 1]!),
        )
      ) {
        throw new LlamaFfiInputError(`items[${i}].outputAt must be ascending indices into its tokens`);
      }
    }
  }

  /** Highest position held in the KV cache for `seq`, or -1 when it is empty. */
  seqPosMax(seq: number): number {
    this.checkSeq(seq);
    this.checkIdle();
    return this.native.llama_memory_seq_pos_max(this.memory, seq);
  }

  /** Lowest position held for `seq`, or -1 when it is empty. */
  seqPosMin(seq: number): number {
    this.checkSeq(seq);
    this.checkIdle();
    return this.native.llama_memory_seq_pos_min(this.memory, seq);
  }

  /** Forget positions [fromPos, toPos) of `seq` (toPos default: the end) — rollback before re-decoding. */
  async seqRemove(seq: number, fromPos: number, toPos = -1): Promise<void> {
    this.checkSeq(seq);
    if (!Number.isInteger(fromPos) || fromPos < 0)
      throw new LlamaFfiInputError(`fromPos must be a non-negative integer, got ${fromPos}`);
    await llamaDecodeQueue.run(() => {
      if (!this.native.llama_memory_seq_rm(this.memory, seq, fromPos, toPos)) {
        throw new LlamaFfiNativeError(
          `llama_memory_seq_rm refused to remove positions ${fromPos}..${toPos} of sequence ${seq}`,
        );
      }
    });
  }

  /**
   * Give `dst` the KV cells `src` holds at positions [fromPos, toPos) (toPos default: the end), at the same
   * positions, after which `dst` decodes as if it had evaluated those tokens itself. Make room first: `dst` should
   * hold nothing at those positions (seqRemove).
   *
   * With `kvUnified` the cells are only tagged as `dst`'s too — no data moves and no memory is used, whatever the
   * range. With one KV stream per sequence, llama.cpp copies `src`'s whole stream into `dst`'s (replacing all it
   * held) during the next decode of the context, so only the whole sequence can be copied (fromPos 0, no toPos).
   */
  async seqCopy(src: number, dst: number, fromPos = 0, toPos = -1): Promise<void> {
    this.checkSeq(src);
    this.checkSeq(dst);
    if (!Number.isInteger(fromPos) || fromPos < 0)
      throw new LlamaFfiInputError(`fromPos must be a non-negative integer, got ${fromPos}`);
    if (toPos !== -1 && (!Number.isInteger(toPos) || toPos <= fromPos))
      throw new LlamaFfiInputError(`toPos must be -1 or an integer above fromPos, got ${toPos}`);
    if (!this.kvUnified && (fromPos !== 0 || toPos !== -1)) {
      // llama.cpp aborts the process on a partial copy between streams (GGML_ASSERT): refuse it here.
      throw new LlamaFfiInputError(
        `a context without kvUnified copies whole sequences only (fromPos 0, toPos -1), got ${fromPos}..${toPos}`,
      );
    }
    await llamaDecodeQueue.run(() => {
      if (this.handle === null) throw new LlamaFfiDisposedError("the context was disposed");
      this.native.llama_memory_seq_cp(this.memory, src, dst, fromPos, toPos);
    });
  }

  /** Empty the KV cache of every sequence. */
  async clear(): Promise<void> {
    await llamaDecodeQueue.run(() => this.native.llama_memory_clear(this.memory, true));
  }

  /** Free the context (after any queued work on it). */
  async dispose(): Promise<void> {
    if (this.handle === null) return;
    await llamaDecodeQueue.run(() => {
      if (this.handle === null) return;
      this.native.llama_batch_free(this.batch);
      this.native.llama_free(this.handle);
      this.handle = null;
      this.model.attachContext(-1);
      this.lmHeadSkip?.dispose();
    });
  }

  private checkSeq(seq: number): void {
    const max = this.nSeqMax;
    if (!Number.isInteger(seq) || seq < 0 || seq >= max) {
      throw new LlamaFfiInputError(
        `sequence id ${seq} is out of range: this context has nSeqMax ${max} (ids 0..${max - 1})`,
      );
    }
  }

  private checkIdle(): void {
    if (this.busy)
      throw new LlamaFfiInputError(
        "a decode is running on this context: await it before reading the KV cache",
      );
  }

  private validate(items: readonly DecodeItem[]): void {
    const nVocab = this.nVocab;
    for (const [i, item] of items.entries()) {
      this.checkSeq(item.seq);
      if (item.pos !== undefined && (!Number.isInteger(item.pos) || item.pos < 0)) {
        throw new LlamaFfiInputError(`items[${i}].pos must be a non-negative integer, got ${item.pos}`);
      }
      for (const t of item.tokens) {
        if (!Number.isInteger(t) || t < 0 || t >= nVocab) {
          throw new LlamaFfiInputError(
            `items[${i}] holds token id ${t}, outside the vocabulary (0..${nVocab - 1})`,
          );
        }
      }
    }
  }

  private run(items: readonly DecodeItem[], outputs: "all" | "last"): Promise<Float32Array[][]> {
    return this.runThen(items, outputs, false, (rows) => rows);
  }

  /** Decode in the queue, then `then` the rows, still in the queue (views stay valid while it runs). */
  private runThen<T>(
    items: readonly DecodeItem[],
    outputs: "all" | "last",
    views: boolean,
    then: (rows: Float32Array[][]) => T,
  ): Promise<T> {
    this.validate(items);
    return llamaDecodeQueue.run(async () => {
      const ctx = this.ctx;
      this.busy = true;
      try {
        return then(await this.decodeAll(ctx, items, outputs, views));
      } finally {
        this.busy = false;
      }
    });
  }

  /** `views`: the rows of the last llama_decode call are views into llama.cpp's buffer (earlier ones are copied). */
  private async decodeAll(
    ctx: Ptr,
    items: readonly DecodeItem[],
    outputs: "all" | "last",
    views: boolean,
  ): Promise<Float32Array[][]> {
    const n = this.native;
    // positions are read when the task runs: earlier queued decodes may have extended the sequences
    const next = new Map<number, number>();
    const rows: { item: number; seq: number; token: number; pos: number; output: boolean }[] = [];
    for (const [i, item] of items.entries()) {
      let pos = item.pos ?? next.get(item.seq) ?? n.llama_memory_seq_pos_max(this.memory, item.seq) + 1;
      item.tokens.forEach((token, k) => {
        rows.push({
          item: i,
          seq: item.seq,
          token,
          pos: pos++,
          output:
            outputs === "all" || (item.outputAt ? item.outputAt.includes(k) : k === item.tokens.length - 1),
        });
      });
      next.set(item.seq, pos);
    }
    const result: Float32Array[][] = items.map(() => []);
    const width = outputs === "all" ? this.nEmbd : this.nVocab;
    // Calls of at most nBatch tokens and nOutputsMax outputs (llama.cpp sizes its output buffer by the outputs).
    const nBatch = this.tokenView.length;
    for (let start = 0, end = 0; start < rows.length; start = end) {
      let outputsInChunk = 0;
      while (end < rows.length && end - start < nBatch) {
        if (rows[end]!.output && outputsInChunk === this.nOutputsMax) break;
        if (rows[end]!.output) outputsInChunk++;
        end++;
      }
      const chunk = rows.slice(start, end);
      chunk.forEach((r, j) => {
        this.tokenView[j] = r.token;
        this.posView[j] = r.pos;
        this.nSeqIdView[j] = 1;
        (this.seqIdViews[j] as Int32Array)[0] = r.seq;
        this.outputView[j] = r.output ? 1 : 0;
      });
      this.batch.n_tokens = chunk.length;
      const rc = await new Promise<number>((resolve, reject) =>
        n.llama_decode.async(ctx, this.batch, (err, res) => (err ? reject(err as Error) : resolve(res))),
      );
      if (rc !== 0) {
        throw new LlamaDecodeError(
          rc,
          `${chunk.length} tokens from row ${start} of ${rows.length}; earlier rows were decoded`,
        );
      }
      chunk.forEach((r, j) => {
        if (!r.output) return;
        const ptr = outputs === "all" ? n.llama_get_embeddings_ith(ctx, j) : n.llama_get_logits_ith(ctx, j);
        if (!ptr)
          throw new LlamaFfiNativeError(
            `llama.cpp returned no ${outputs === "all" ? "hidden state" : "logits"} for batch row ${j}`,
          );
        const row = koffi.view(ptr, width * 4);
        (result[r.item] as Float32Array[]).push(
          new Float32Array(views && end === rows.length ? row : row.slice(0)),
        );
      });
    }
    return result;
  }
}
