/**
 * The fast Gen decode: force the fixed text of the output format and let the model choose only where the
 * format allows a choice, greedily (argmax among the allowed tokens). Every output therefore parses.
 *
 * Cost: the prompt plus `Safety:` is one evaluation whose last distribution gives the tier; each later
 * choice (first category, "," or end, refusal) is one small evaluation of the forced tokens before it.
 */
import type { Category } from "../../core/labels.js";
import { RISK_TIERS } from "../../core/labels.js";
import type { GenOutput, TierProbabilities } from "../../core/verdict.js";
import type { GenOutputVocabulary } from "./output-vocabulary.js";
import { isSpeculativeScorer, type SpeculativeScorer, type TokenScorer } from "./token-scorer.js";

/**
 * What the decoder chose, as a verdict's fields: built from the choices themselves, never by decoding the output
 * ids to text and parsing it back (that the two agree is a test).
 */
export type DecodedOutput = Omit<GenOutput, "raw">;

export interface ConstrainedDecodeResult {
  output: DecodedOutput;
  /** P(tier) renormalised over the three tiers' first tokens. */
  probabilities: TierProbabilities;
  /** Raw probability mass the model put on the three tier tokens (1 for a well-trained guard). */
  tierMass: number;
  /** Output token ids, as greedy generation constrained to the format produced them. */
  outputIds: number[];
  /** Number of engine evaluations after the prompt's. */
  extraEvaluations: number;
  /** Tokens sent to the engine: the prompt tail, then output tokens (speculated ones taken back included). */
  evaluatedTokens: number;
}

/** Pick, greedily, one of several token sequences (no option may be a prefix of another). */
async function chooseOption<T>(
  scorer: TokenScorer,
  pending: number[],
  options: readonly (readonly [T, readonly number[]])[],
  counter: { evaluations: number; tokens: number },
  /** The distribution for the first choice, when already read (then `pending` must be empty). */
  known?: Map<number, number>,
): Promise<{ choice: T; pending: number[] }> {
  let alive = options.slice();
  let depth = 0;
  for (;;) {
    if (alive.length === 1 && depth >= alive[0]![1].length) return { choice: alive[0]![0], pending };
    const nextTokens = [...new Set(alive.map(([, seq]) => seq[depth]!))];
    let token: number;
    if (nextTokens.length === 1) {
      token = nextTokens[0]!;
      // A forced token follows the position `known` describes: the next choice must be read after it.
      known = undefined;
    } else if (known) {
      token = argmax(nextTokens, known);
      known = undefined;
    } else {
      const probs = await scorer.appendAndScore(pending, nextTokens);
      counter.evaluations++;
      counter.tokens += pending.length;
      pending = [];
      token = argmax(nextTokens, probs);
    }
    pending = [...pending, token];
    alive = alive.filter(([, seq]) => seq[depth] === token);
    depth++;
  }
}

function argmax(candidates: readonly number[], probs: Map<number, number>): number {
  let best = candidates[0]!;
  let bestP = -Infinity;
  for (const c of candidates) {
    const p = probs.get(c) ?? 0;
    if (p > bestP) {
      best = c;
      bestP = p;
    }
  }
  return best;
}

/**
 * Decode a verdict after `promptIds`. The scorer's sequence must hold nothing after the prompt's prefix
 * that the caller wants kept: `promptTail` (the ids not yet evaluated) is evaluated together with `Safety:`.
 */
export async function decodeConstrained(
  scorer: TokenScorer,
  promptTail: readonly number[],
  vocab: GenOutputVocabulary,
): Promise<ConstrainedDecodeResult> {
  const counter = { evaluations: 0, tokens: promptTail.length + vocab.safetyField.length };
  const output: number[] = [...vocab.safetyField];

  // 1. Tier: one distribution after "Safety:". A speculative engine also evaluates the Safe continuation in the
  //    same pass (kept only if the model's own choices confirm it; see speculateSafe).
  const tierFirst = RISK_TIERS.map((t) => vocab.tiers[t][0]!);
  const firstOptions: [Category | "None", number[]][] = [
    ["None", vocab.none],
    ...[...vocab.categories].map(([c, ids]): [Category, number[]] => [c, ids]),
  ];
  const speculation = isSpeculativeScorer(scorer)
    ? await speculateSafe(scorer, promptTail, vocab, tierFirst, firstOptions)
    : undefined;
  if (speculation) counter.tokens += speculation.length;
  const dist =
    speculation?.tier ?? (await scorer.appendAndScore([...promptTail, ...vocab.safetyField], tierFirst));
  const raw = RISK_TIERS.map((_, i) => dist.get(tierFirst[i]!) ?? 0);
  const mass = raw.reduce((a, b) => a + b, 0);
  const probabilities = Object.fromEntries(
    RISK_TIERS.map((t, i) => [t, mass > 0 ? raw[i]! / mass : 1 / RISK_TIERS.length]),
  ) as TierProbabilities;
  let tierIndex = 0;
  raw.forEach((p, i) => {
    if (p > raw[tierIndex]!) tierIndex = i;
  });
  const tier = RISK_TIERS[tierIndex]!;
  output.push(...vocab.tiers[tier], ...vocab.categoriesField);
  // The tier's first token was chosen by the distribution just read; the rest of it is forced.
  let pending: number[] = [...vocab.tiers[tier], ...vocab.categoriesField];
  let knownCategory: Map<number, number> | undefined;
  if (speculation) {
    if (tier === "Safe") {
      // The speculated ` Safe\nCategories:` is what the model chose: its category distribution is valid.
      pending = [];
      knownCategory = speculation.category;
    } else {
      await speculation.scorer.rollback(speculation.length);
    }
  }

  // 2. Categories: "None", or one or more names separated by ",".
  const categories: Category[] = [];
  const finish = (refusal: "Yes" | "No" | undefined): ConstrainedDecodeResult => ({
    output: {
      direction: vocab.direction,
      tier,
      categories,
      ...(refusal === undefined ? {} : { refusal }),
    },
    probabilities,
    tierMass: mass,
    outputIds: output,
    extraEvaluations: counter.evaluations,
    evaluatedTokens: counter.tokens,
  });
  if (speculation && tier === "Safe" && speculation.refusalLength > 0) {
    // Responses also speculated ` None\nRefusal:`: if the model's first choice is None, the refusal
    // distribution read in the same pass is valid and the verdict is complete; otherwise take it back first.
    const firsts = [...new Set(firstOptions.map(([, ids]) => ids[0]!))];
    const first = argmax(firsts, knownCategory!);
    const noneIsWhole =
      vocab.none.length === 1 && firstOptions.filter(([, ids]) => ids[0] === first).length === 1;
    const yes = vocab.refusals.Yes;
    const no = vocab.refusals.No;
    if (first === vocab.none[0] && noneIsWhole && yes.length === 1 && no.length === 1) {
      const refusal = argmax([yes[0]!, no[0]!], speculation.refusal!) === yes[0] ? "Yes" : "No";
      output.push(...vocab.none, ...vocab.refusalField, ...vocab.refusals[refusal], ...vocab.end);
      return finish(refusal);
    }
    await speculation.scorer.rollback(speculation.refusalLength);
  }
  let step = await chooseOption(scorer, pending, firstOptions, counter, knownCategory);
  pending = step.pending;
  output.push(...(step.choice === "None" ? vocab.none : vocab.categories.get(step.choice)!));
  if (step.choice !== "None") {
    categories.push(step.choice);
    const terminator = vocab.direction === "response" ? vocab.refusalField.slice(0, 1) : vocab.end;
    for (;;) {
      const remaining = [...vocab.categories].filter(([c]) => !categories.includes(c));
      if (remaining.length === 0) break;
      const more = await chooseOption<"more" | "stop">(
        scorer,
        pending,
        [
          ["more", vocab.separator],
          ["stop", terminator],
        ],
        counter,
      );
      if (more.choice === "stop") {
        pending = more.pending.slice(0, -terminator.length);
        break;
      }
      output.push(...vocab.separator);
      step = await chooseOption(scorer, more.pending, remaining, counter);
      pending = step.pending;
      categories.push(step.choice as Category);
      output.push(...vocab.categories.get(step.choice as Category)!);
    }
  }

  // 3. Refusal (responses only).
  let refusal: "Yes" | "No" | undefined;
  if (vocab.direction === "response") {
    output.push(...vocab.refusalField);
    const r = await chooseOption<"Yes" | "No">(
      scorer,
      [...pending, ...vocab.refusalField],
      [
        ["Yes", vocab.refusals.Yes],
        ["No", vocab.refusals.No],
      ],
      counter,
    );
    refusal = r.choice;
    output.push(...vocab.refusals[refusal]);
  }
  output.push(...vocab.end);
  return finish(refusal);
}

interface Speculation {
  scorer: SpeculativeScorer;
  /** Distribution of the tier's first token after `Safety:`. */
  tier: Map<number, number>;
  /** Distribution of the first category token after the speculated ` Safe\nCategories:`. */
  category: Map<number, number>;
  /** Speculated tokens after `Safety:` (` Safe\nCategories:` and, for responses, ` None\nRefusal:`). */
  length: number;
  /** For responses: the ` None\nRefusal:` part, and the Yes/No distribution after it. */
  refusalLength: number;
  refusal?: Map<number, number>;
}

/**
 * Evaluate the prompt tail and `Safety:`, plus the continuation a Safe verdict has (` Safe\nCategories:`, and for
 * responses ` None\nRefusal:`), in one pass, reading the distributions after `Safety:`, after `Categories:` and
 * after `Refusal:`. Tokens after a position never change its distribution (causal attention), so the tier read
 * here is exact; the later ones are used only when the model's choices match the speculation.
 */
async function speculateSafe(
  scorer: SpeculativeScorer,
  promptTail: readonly number[],
  vocab: GenOutputVocabulary,
  tierFirst: readonly number[],
  categoryOptions: readonly (readonly [string, readonly number[]])[],
): Promise<Speculation> {
  const head = [...promptTail, ...vocab.safetyField];
  const safe = [...vocab.tiers.Safe, ...vocab.categoriesField];
  const refusalPart = vocab.direction === "response" ? [...vocab.none, ...vocab.refusalField] : [];
  const categoryFirst = [...new Set(categoryOptions.map(([, ids]) => ids[0]!))];
  const queries = [
    { index: head.length - 1, candidates: tierFirst },
    { index: head.length + safe.length - 1, candidates: categoryFirst },
    ...(refusalPart.length > 0
      ? [
          {
            index: head.length + safe.length + refusalPart.length - 1,
            candidates: [vocab.refusals.Yes[0]!, vocab.refusals.No[0]!],
          },
        ]
      : []),
  ];
  const dists = await scorer.appendAndScoreAt([...head, ...safe, ...refusalPart], queries);
  return {
    scorer,
    tier: dists[0]!,
    category: dists[1]!,
    length: safe.length + refusalPart.length,
    refusalLength: refusalPart.length,
    ...(dists[2] ? { refusal: dists[2] } : {}),
  };
}
