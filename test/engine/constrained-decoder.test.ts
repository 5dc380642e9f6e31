/**
 * The fast decode against a brute-force oracle, with no engine: a fake model whose next-token distribution is a
 * seeded function of everything its sequence holds, and a made-up output vocabulary. The oracle is greedy
 * generation constrained to the format (at each step, argmax of the model's distribution among the tokens some
 * valid output allows). The decoder must produce the same ids, with and without speculation, and the fake
 * sequence must end up holding the prompt followed by a prefix of those ids (KV state consistent with the output).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { categoriesFor, RISK_TIERS, type Category, type Direction } from "../../src/core/labels.js";
import { decodeConstrained } from "../../src/engine/gen/constrained-decoder.js";
import {
  buildGenOutputVocabulary,
  type GenOutputVocabulary,
} from "../../src/engine/gen/output-vocabulary.js";
import { formatGenOutput, parseGenOutput } from "../../src/core/parse/gen-output.js";
import { loadBundledQwen3Tokenizer } from "../../src/model/tokenizer/bundled.js";
import type { SpeculativeScorer, TokenScorer } from "../../src/engine/gen/token-scorer.js";

const VOCAB_SIZE = 100;

/** Seeded pseudo-random logits of a history (FNV-1a over the ids, then a xorshift per vocabulary entry). */
function logitsAfter(seed: number, history: readonly number[]): number[] {
  let h = (2166136261 ^ seed) >>> 0;
  for (const t of history) h = Math.imul(h ^ t, 16777619) >>> 0;
  const out: number[] = [];
  for (let i = 0; i < VOCAB_SIZE; i++) {
    h ^= h << 13;
    h ^= h >>> 17;
    h ^= h << 5;
    h >>>= 0;
    out.push((h / 2 ** 32) * 8);
  }
  return out;
}

function probabilities(logits: number[], candidates: readonly number[]): Map<number, number> {
  const max = Math.max(...logits);
  const sum = logits.reduce((a, l) => a + Math.exp(l - max), 0);
  return new Map(candidates.map((c) => [c, Math.exp(logits[c]! - max) / sum]));
}

class FakeSequence implements SpeculativeScorer {
  tokens: number[];
  calls = 0;
  /** Every token ever evaluated, taken-back ones included. */
  evaluated = 0;
  constructor(
    private readonly seed: number,
    prefix: readonly number[],
  ) {
    this.tokens = [...prefix];
  }
  async appendAndScore(tokens: readonly number[], candidates: readonly number[]) {
    assert.ok(tokens.length > 0);
    this.calls++;
    this.evaluated += tokens.length;
    this.tokens.push(...tokens);
    return probabilities(logitsAfter(this.seed, this.tokens), candidates);
  }
  async appendAndScoreAt(
    tokens: readonly number[],
    queries: readonly { index: number; candidates: readonly number[] }[],
  ) {
    this.calls++;
    this.evaluated += tokens.length;
    const start = this.tokens.length;
    this.tokens.push(...tokens);
    return queries.map((q) =>
      probabilities(logitsAfter(this.seed, this.tokens.slice(0, start + q.index + 1)), q.candidates),
    );
  }
  async rollback(count: number) {
    this.tokens.length -= count;
  }
}

/** The same sequence without appendAndScoreAt/rollback: the decoder's plain path. */
function plain(seq: FakeSequence): TokenScorer {
  return { appendAndScore: (t, c) => seq.appendAndScore(t, c) };
}

function vocabulary(direction: Direction, shapes: { none: number[]; categories: number[][] }) {
  const names = categoriesFor(direction).slice(0, shapes.categories.length);
  const vocab: GenOutputVocabulary = {
    direction,
    safetyField: [1, 2],
    tiers: { Safe: [10], Unsafe: [11, 12], Controversial: [13] },
    categoriesField: [3, 4],
    categories: new Map(names.map((c, i) => [c, shapes.categories[i]!])),
    none: shapes.none,
    separator: [5],
    refusalField: [6, 7],
    refusals: { Yes: [30], No: [31] },
    end: [99],
  };
  return vocab;
}

/** Every output the format allows. */
function validOutputs(vocab: GenOutputVocabulary): number[][] {
  const cats = [...vocab.categories.keys()];
  const lists: Category[][] = [];
  const grow = (list: Category[]) => {
    if (list.length > 0) lists.push(list);
    for (const c of cats) if (!list.includes(c)) grow([...list, c]);
  };
  grow([]);
  const categoryParts = [
    vocab.none,
    ...lists.map((l) =>
      l.flatMap((c, i) => [...(i > 0 ? vocab.separator : []), ...vocab.categories.get(c)!]),
    ),
  ];
  const refusalParts =
    vocab.direction === "response"
      ? [vocab.refusals.Yes, vocab.refusals.No].map((r) => [...vocab.refusalField, ...r])
      : [[]];
  return RISK_TIERS.flatMap((t) =>
    categoryParts.flatMap((c) =>
      refusalParts.map((r) => [
        ...vocab.safetyField,
        ...vocab.tiers[t],
        ...vocab.categoriesField,
        ...c,
        ...r,
        ...vocab.end,
      ]),
    ),
  );
}

/** Greedy generation constrained to the valid outputs, reading the model after every token. */
function oracle(seed: number, prompt: readonly number[], vocab: GenOutputVocabulary): number[] {
  let alive = validOutputs(vocab);
  const out: number[] = [];
  for (;;) {
    const done = alive.find((o) => o.length === out.length);
    if (done) return out;
    const allowed = [...new Set(alive.map((o) => o[out.length]!))];
    let token = allowed[0]!;
    if (allowed.length > 1) {
      const probs = probabilities(logitsAfter(seed, [...prompt, ...out]), allowed);
      let best = -Infinity;
      for (const c of allowed) {
        if (probs.get(c)! > best) {
          best = probs.get(c)!;
          token = c;
        }
      }
    }
    out.push(token);
    alive = alive.filter((o) => o[out.length - 1] === token);
  }
}

const SHAPES = {
  "distinct first tokens": { none: [20], categories: [[40], [41, 42], [43]] },
  // Every category option starts with the same token (a bare space, say): the first choice is forced and the
  // next one must be read after it, not from the distribution before it.
  "shared first token": {
    none: [50, 51],
    categories: [
      [50, 52],
      [50, 53, 54],
      [50, 55],
    ],
  },
};

for (const direction of ["prompt", "response"] as const) {
  for (const [shapeName, shape] of Object.entries(SHAPES)) {
    for (const speculative of [true, false]) {
      test(`fast decode equals constrained greedy generation: ${direction}, ${shapeName}, ${speculative ? "speculative" : "plain"} scorer`, async () => {
        const vocab = vocabulary(direction, shape);
        const head = [90, 91, 92];
        const promptTail = [93, 94];
        for (let seed = 0; seed < 300; seed++) {
          const seq = new FakeSequence(seed, head);
          const result = await decodeConstrained(speculative ? seq : plain(seq), promptTail, vocab);
          const prompt = [...head, ...promptTail];
          const expected = oracle(seed, prompt, vocab);
          assert.deepEqual(result.outputIds, expected, `seed ${seed}`);
          const full = [...prompt, ...expected];
          assert.deepEqual(seq.tokens, full.slice(0, seq.tokens.length), `seed ${seed}: sequence state`);
          assert.ok(seq.tokens.length >= prompt.length + vocab.safetyField.length, `seed ${seed}`);
          assert.equal(result.extraEvaluations, seq.calls - 1, `seed ${seed}: evaluations`);
          assert.equal(result.evaluatedTokens, seq.evaluated, `seed ${seed}: evaluated tokens`);
        }
      });
    }
  }
}

/**
 * A fake model over the real Qwen3 vocabulary: each candidate's score is a seeded hash of the sequence so far and
 * the candidate, so every choice the format leaves open (tier, categories, how many, refusal) varies with the seed.
 */
class HashScorer implements SpeculativeScorer {
  tokens: number[] = [];
  constructor(private readonly seed: number) {}
  private score(history: readonly number[], candidates: readonly number[]): Map<number, number> {
    let h = (2166136261 ^ this.seed) >>> 0;
    for (const t of history) h = Math.imul(h ^ t, 16777619) >>> 0;
    return new Map(candidates.map((c) => [c, 1 + (Math.imul(h ^ c, 2654435761) >>> 0) / 2 ** 32]));
  }
  async appendAndScore(tokens: readonly number[], candidates: readonly number[]) {
    this.tokens.push(...tokens);
    return this.score(this.tokens, candidates);
  }
  async appendAndScoreAt(
    tokens: readonly number[],
    queries: readonly { index: number; candidates: readonly number[] }[],
  ) {
    const start = this.tokens.length;
    this.tokens.push(...tokens);
    return queries.map((q) => this.score(this.tokens.slice(0, start + q.index + 1), q.candidates));
  }
  async rollback(count: number) {
    this.tokens.length -= count;
  }
}

test("the decoder's structured result equals the parse of its own output text (real Qwen3 vocabulary, 1,200 cases)", async () => {
  const tokenizer = loadBundledQwen3Tokenizer();
  const seen = new Set<string>();
  for (const direction of ["prompt", "response"] as const) {
    const vocab = buildGenOutputVocabulary(tokenizer, direction);
    for (const speculative of [true, false]) {
      for (let seed = 0; seed < 300; seed++) {
        const scorer = new HashScorer(seed * 7919 + (speculative ? 1 : 0));
        const result = await decodeConstrained(speculative ? scorer : plainHash(scorer), [1, 2, 3], vocab);
        const raw = tokenizer.decode(result.outputIds, { skipSpecialTokens: true });
        const { raw: _raw, ...parsed } = parseGenOutput(raw, direction);
        assert.deepEqual(result.output, parsed, `${direction} seed ${seed}: ${JSON.stringify(raw)}`);
        assert.equal(formatGenOutput(result.output), raw, "the text is the format of the structured result");
        seen.add(`${result.output.tier}/${result.output.categories.length}/${result.output.refusal ?? "-"}`);
      }
    }
  }
  // the cases cover every tier, several category counts and both refusals
  for (const tier of ["Safe", "Unsafe", "Controversial"])
    assert.ok([...seen].some((k) => k.startsWith(tier)));
  assert.ok(
    [...seen].some((k) => Number(k.split("/")[1]) >= 3),
    [...seen].join(" "),
  );
  assert.ok([...seen].some((k) => k.endsWith("/Yes")) && [...seen].some((k) => k.endsWith("/No")));
});

function plainHash(scorer: HashScorer): TokenScorer {
  return { appendAndScore: (t, c) => scorer.appendAndScore(t, c) };
}
