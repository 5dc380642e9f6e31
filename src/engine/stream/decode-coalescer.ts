/**
 * Adaptive chunking in front of a hidden-state engine. Tokens submitted while a decode is running wait and go
 * into the next decode together: a slow generator gets one token per decode, a fast one gets chunks, so the guard
 * never falls behind. Everything that is waiting when a decode starts — from any number of sequences — goes into
 * that one decode (the binding runs it as one batch). Submissions made in the same tick are coalesced as well.
 */
import type { HiddenStateEngine, HiddenStateItem } from "./hidden-state-engine.js";

interface Part {
  count: number;
  resolve: (states: Float32Array[]) => void;
  reject: (error: unknown) => void;
}

interface Pending {
  tokens: number[];
  parts: Part[];
}

export interface CoalescerStats {
  /** Engine decode calls made. */
  decodes: number;
  /** Tokens decoded. */
  tokens: number;
  /** The most tokens / sequences one decode carried. */
  maxTokensPerDecode: number;
  maxSequencesPerDecode: number;
}

export class DecodeCoalescer {
  private pending = new Map<number, Pending>();
  private running = false;
  private scheduled = false;
  /** With `engine.chunking`: when the oldest pending token was submitted, and the timer that ends its wait. */
  private waitingSince: number | undefined;
  private waitTimer: NodeJS.Timeout | undefined;
  readonly stats: CoalescerStats = { decodes: 0, tokens: 0, maxTokensPerDecode: 0, maxSequencesPerDecode: 0 };

  constructor(readonly engine: HiddenStateEngine) {}

  /** Append tokens to a sequence; resolves with their hidden states once the decode that carries them is done. */
  submit(seq: number, tokens: readonly number[]): Promise<Float32Array[]> {
    if (tokens.length === 0) return Promise.resolve([]);
    return new Promise<Float32Array[]>((resolve, reject) => {
      let entry = this.pending.get(seq);
      if (!entry) {
        entry = { tokens: [], parts: [] };
        this.pending.set(seq, entry);
      }
      for (const t of tokens) entry.tokens.push(t);
      entry.parts.push({ count: tokens.length, resolve, reject });
      this.schedule();
    });
  }

  /** True while a decode runs or tokens wait. */
  get busy(): boolean {
    return this.running || this.pending.size > 0;
  }

  /**
   * With `engine.chunking`, whether the pending tokens should wait for more: no sequence has `minTokens` pending
   * and the oldest has waited less than `maxWaitMs` (then a timer is set to end the wait).
   */
  private shouldWait(): boolean {
    const chunking = this.engine.chunking;
    if (chunking === undefined || this.pending.size === 0) return false;
    this.waitingSince ??= performance.now();
    const waited = performance.now() - this.waitingSince;
    const enough = [...this.pending.values()].some((p) => p.tokens.length >= chunking.minTokens);
    if (enough || waited >= chunking.maxWaitMs) return false;
    if (this.waitTimer === undefined) {
      this.waitTimer = setTimeout(() => {
        this.waitTimer = undefined;
        this.schedule();
      }, chunking.maxWaitMs - waited);
    }
    return true;
  }

  private schedule(): void {
    if (this.running || this.scheduled || this.shouldWait()) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      void this.drain();
    });
  }

  private async drain(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      while (this.pending.size > 0 && !this.shouldWait()) {
        clearTimeout(this.waitTimer);
        this.waitTimer = undefined;
        this.waitingSince = undefined;
        const batch = [...this.pending.entries()];
        this.pending = new Map();
        const items: HiddenStateItem[] = batch.map(([seq, p]) => ({ seq, tokens: p.tokens }));
        const tokenCount = items.reduce((n, i) => n + i.tokens.length, 0);
        this.stats.decodes++;
        this.stats.tokens += tokenCount;
        this.stats.maxTokensPerDecode = Math.max(this.stats.maxTokensPerDecode, tokenCount);
        this.stats.maxSequencesPerDecode = Math.max(this.stats.maxSequencesPerDecode, items.length);
        let results: Float32Array[][];
        try {
          results = await this.engine.decode(items);
        } catch (error) {
          for (const [, p] of batch) for (const part of p.parts) part.reject(error);
          continue;
        }
        batch.forEach(([, p], i) => {
          const states = results[i] ?? [];
          let at = 0;
          for (const part of p.parts) {
            part.resolve(states.slice(at, at + part.count));
            at += part.count;
          }
        });
      }
    } finally {
      this.running = false;
    }
  }
}
