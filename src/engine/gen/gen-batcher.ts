/**
 * Merges the decodes of concurrent Gen requests into multi-sequence llama_decode calls (the Gen counterpart of
 * src/engine/stream/decode-coalescer.ts). Every operation a Gen engine makes on its KV cache — appending tokens,
 * removing positions, copying a prefix between sequences — is submitted here; what is submitted while a round
 * runs waits and goes into the next round together.
 *
 * A round keeps the order of submission where it matters: a removal or copy touching a sequence that already has
 * tokens waiting in the round's batch first sends that batch. Decodes are merged by size, because on a CPU only
 * the small ones gain from sharing a pass over the weights (8 sequences × 4 tokens: ~320 ms as one decode,
 * ~590 ms as eight on 2 cores) while a prefill costs the same per token either way: the small ones (the
 * constrained decoder's steps) go into one decode, sent first so their requests can go on, the prefills into
 * another (on a GPU, merging those pays too). A merged decode never holds more than `maxTokens` tokens or
 * `maxOutputs` logits rows (llama.cpp aborts the process past the context's output rows).
 *
 * The target queues each call on the process-wide decode queue, one at a time: the batcher never has two decodes
 * running, and a round's calls are queued in the same tick, so no other work on the queue comes between them.
 *
 * Logits rows are read in place: each decode's `read` gets views into llama.cpp's output buffer while the decode
 * is still the queue's current task, and returns what its request needs (a few probabilities, an argmax), so no
 * vocabulary-sized row (0.6 MB with Qwen3) is copied per request and decode.
 */
import type { DecodeItem } from "../llama-ffi/index.js";

/** What the batcher drives: a logits context of the binding (LlamaFfiContext) or a stand-in in tests. */
export interface GenBatchTarget {
  /**
   * Decode `items` and run `read` on the logits rows (per item, those its `outputAt` lists) while they are valid:
   * before any other decode can overwrite them (LlamaFfiContext.readLogits).
   */
  readLogits<T>(items: readonly DecodeItem[], read: (rows: Float32Array[][]) => T): Promise<T>;
  seqRemove(seq: number, fromPos: number, toPos?: number): Promise<void>;
  seqCopy(src: number, dst: number, fromPos?: number, toPos?: number): Promise<void>;
}

export interface GenBatcherLimits {
  /** Most tokens one merged decode carries (an item longer than this goes alone; the target splits it). */
  maxTokens: number;
  /** Most logits rows one decode returns. */
  maxOutputs: number;
  /** Items of at most this many tokens count as small (merged together, sent first). Default 16. */
  smallTokens?: number;
  /** false: one decode per item, in order (the comparison the tests and benchmarks make). Default true. */
  merge?: boolean;
}

export interface GenBatcherStats {
  /** Decode calls made (each one llama_decode unless an item was longer than the batch). */
  decodes: number;
  /** Decode calls that carried more than one sequence. */
  mergedDecodes: number;
  /** Items (one sequence's tokens) submitted. */
  items: number;
  /** Tokens evaluated. */
  tokens: number;
  /** Removals and copies made. */
  removals: number;
  copies: number;
  /** The most sequences / tokens one decode carried. */
  maxSequencesPerDecode: number;
  maxTokensPerDecode: number;
}

interface DecodeOp {
  kind: "decode";
  item: DecodeItem;
  outputs: number;
  /** Takes what the request needs from its rows, which it must not keep. */
  read: (rows: readonly Float32Array[]) => unknown;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

interface KvOp {
  kind: "remove" | "copy";
  /** The sequences it touches: [seq] for a removal, [src, dst] for a copy. */
  seqs: readonly number[];
  run: () => Promise<void>;
  resolve: () => void;
  reject: (error: unknown) => void;
}

export class GenDecodeBatcher {
  private pending: (DecodeOp | KvOp)[] = [];
  private running = false;
  private scheduled = false;
  private readonly smallTokens: number;
  /** false: one decode per item, in order (tests and benchmarks compare). */
  merge: boolean;
  readonly stats: GenBatcherStats = {
    decodes: 0,
    mergedDecodes: 0,
    items: 0,
    tokens: 0,
    removals: 0,
    copies: 0,
    maxSequencesPerDecode: 0,
    maxTokensPerDecode: 0,
  };

  constructor(
    private readonly target: GenBatchTarget,
    private readonly limits: GenBatcherLimits,
  ) {
    this.smallTokens = limits.smallTokens ?? 16;
    this.merge = limits.merge ?? true;
  }

  /**
   * Append `tokens` to sequence `seq` at positions `pos`, `pos + 1`, ...; resolves with what `read` returns from
   * the next-token logits after each token listed in `outputAt` (indices into `tokens`, ascending; default: the
   * last). The rows `read` gets are views into the target's output buffer, valid only while it runs (it must not
   * keep them); the default `read` returns copies. A `read` that throws rejects its own decode only.
   */
  decode<T = Float32Array[]>(
    seq: number,
    tokens: readonly number[],
    pos: number,
    outputAt?: readonly number[],
    read: (rows: readonly Float32Array[]) => T = copyRows as (rows: readonly Float32Array[]) => T,
  ): Promise<T> {
    const at = outputAt ?? [tokens.length - 1];
    if (tokens.length === 0) return Promise.reject(new RangeError("a decode needs at least one token"));
    if (at.length > this.limits.maxOutputs) {
      return Promise.reject(
        new RangeError(
          `${at.length} logits rows asked for in one decode, over the context's ${this.limits.maxOutputs}`,
        ),
      );
    }
    return new Promise<T>((resolve, reject) => {
      this.pending.push({
        kind: "decode",
        item: { seq, tokens, pos, outputAt: at },
        outputs: at.length,
        read,
        resolve: resolve as (value: unknown) => void,
        reject,
      });
      this.schedule();
    });
  }

  /** Forget positions `fromPos` and later of `seq`, before anything submitted after this call. */
  remove(seq: number, fromPos: number): Promise<void> {
    return this.kv("remove", [seq], () => this.target.seqRemove(seq, fromPos));
  }

  /** Give `dst` the cells `src` holds at positions [fromPos, toPos), before anything submitted after this call. */
  copy(src: number, dst: number, fromPos: number, toPos: number): Promise<void> {
    return this.kv("copy", [src, dst], () => this.target.seqCopy(src, dst, fromPos, toPos));
  }

  /** True while a round runs or operations wait. */
  get busy(): boolean {
    return this.running || this.pending.length > 0;
  }

  private kv(kind: KvOp["kind"], seqs: readonly number[], run: () => Promise<void>): Promise<void> {
    return new Promise((resolve, reject) => {
      this.pending.push({ kind, seqs, run, resolve, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.running || this.scheduled) return;
    this.scheduled = true;
    // Operations submitted in the same tick (concurrent requests starting together) join one round.
    setImmediate(() => {
      this.scheduled = false;
      void this.drain();
    });
  }

  private async drain(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      while (this.pending.length > 0) {
        const ops = this.pending;
        this.pending = [];
        await Promise.all(this.round(ops));
      }
    } finally {
      this.running = false;
    }
  }

  /** Send one round's operations to the target, in order; returns what to wait for (never rejects). */
  private round(ops: readonly (DecodeOp | KvOp)[]): Promise<void>[] {
    const waits: Promise<void>[] = [];
    // A removal or copy that fails leaves its sequence in a state the decodes after it did not expect: those
    // decodes (sent in the same round, before the failure is known) fail with the same error.
    const kvErrors = new Map<number, unknown>();
    let small: DecodeOp[] = [];
    let large: DecodeOp[] = [];
    const size = (batch: readonly DecodeOp[]) => ({
      tokens: batch.reduce((n, op) => n + op.item.tokens.length, 0),
      outputs: batch.reduce((n, op) => n + op.outputs, 0),
    });
    const send = (batch: DecodeOp[]) => {
      if (batch.length > 0) waits.push(this.send(batch, kvErrors));
    };
    const flush = () => {
      send(small);
      send(large);
      small = [];
      large = [];
    };
    for (const op of ops) {
      if (op.kind === "decode") {
        if (!this.merge) {
          send([op]);
          continue;
        }
        const isSmall = op.item.tokens.length <= this.smallTokens;
        const batch = isSmall ? small : large;
        const { tokens, outputs } = size(batch);
        if (
          batch.length > 0 &&
          (tokens + op.item.tokens.length > this.limits.maxTokens ||
            outputs + op.outputs > this.limits.maxOutputs)
        ) {
          send(batch);
          if (isSmall) small = [];
          else large = [];
        }
        (isSmall ? small : large).push(op);
        continue;
      }
      const touches = (batch: readonly DecodeOp[]) => batch.some((d) => op.seqs.includes(d.item.seq));
      if (touches(small) || touches(large)) flush();
      if (op.kind === "remove") this.stats.removals++;
      else this.stats.copies++;
      waits.push(
        op.run().then(op.resolve, (error: unknown) => {
          for (const seq of op.seqs.slice(-1)) kvErrors.set(seq, error);
          op.reject(error);
        }),
      );
    }
    flush();
    return waits;
  }

  private async send(batch: readonly DecodeOp[], kvErrors: Map<number, unknown>): Promise<void> {
    const tokens = batch.reduce((n, op) => n + op.item.tokens.length, 0);
    const s = this.stats;
    s.decodes++;
    s.items += batch.length;
    s.tokens += tokens;
    if (new Set(batch.map((op) => op.item.seq)).size > 1) s.mergedDecodes++;
    s.maxSequencesPerDecode = Math.max(s.maxSequencesPerDecode, batch.length);
    s.maxTokensPerDecode = Math.max(s.maxTokensPerDecode, tokens);
    let read: ({ value: unknown } | { error: unknown })[];
    try {
      read = await this.target.readLogits(
        batch.map((op) => op.item),
        (rows) =>
          batch.map((op, i) => {
            try {
              return { value: op.read(rows[i] ?? []) };
            } catch (error) {
              return { error };
            }
          }),
      );
    } catch (error) {
      for (const op of batch) op.reject(error);
      return;
    }
    batch.forEach((op, i) => {
      const failed = kvErrors.get(op.item.seq);
      const result = read[i]!;
      if (failed !== undefined) op.reject(failed);
      else if ("error" in result) op.reject(result.error);
      else op.resolve(result.value);
    });
  }
}

/** The default read of GenDecodeBatcher.decode: copies of the rows, which the caller may keep. */
function copyRows(rows: readonly Float32Array[]): Float32Array[] {
  return rows.map((row) => row.slice());
}
