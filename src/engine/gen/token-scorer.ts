/**
 * What the Gen decoders need from an inference engine: append tokens to one sequence's state and read the
 * next-token distribution at the end. Implemented over node-llama-cpp (llama-sequence-scorer.ts); any
 * engine that can do the same (e.g. the koffi binding) can drive the same decoders.
 */
export interface TokenScorer {
  /**
   * Evaluate `tokens` after what the sequence already holds and return the probability of each candidate id
   * as the next token (softmax over the whole vocabulary, temperature 1). `tokens` must not be empty.
   */
  appendAndScore(tokens: readonly number[], candidates: readonly number[]): Promise<Map<number, number>>;
}

/**
 * An engine that can read several positions of one evaluation and take back evaluated tokens: the fast decode
 * then speculates the most common continuation (` Safe\nCategories:`…) in the prompt's own evaluation and keeps
 * it only when the model's choices confirm it, so a Safe verdict needs no evaluation beyond the prompt's.
 */
export interface SpeculativeScorer extends TokenScorer {
  /** Evaluate `tokens`; for each query, the candidates' probabilities as the token after `tokens[index]`. */
  appendAndScoreAt(
    tokens: readonly number[],
    queries: readonly { index: number; candidates: readonly number[] }[],
  ): Promise<Map<number, number>[]>;
  /** Forget the last `count` evaluated tokens. */
  rollback(count: number): Promise<void>;
}

export function isSpeculativeScorer(scorer: TokenScorer): scorer is SpeculativeScorer {
  return typeof (scorer as Partial<SpeculativeScorer>).appendAndScoreAt === "function";
}

/** Greedy generation for reference mode. */
export interface GreedyGenerator {
  /** Evaluate `prompt` and generate greedily until an end-of-generation token or `maxTokens`. */
  generateGreedy(prompt: readonly number[], maxTokens: number): Promise<number[]>;
}
