/**
 * The token sequences of Qwen3Guard-Gen's output format, derived from the model's own tokenizer:
 *
 *   Safety: <Safe|Unsafe|Controversial>\nCategories: <A, B | None>[\nRefusal: <Yes|No>]<|im_end|>
 *
 * Each piece is tokenized on its own; at build time we check that the pieces joined tokenize exactly as the
 * whole text does, so forcing pieces token by token yields the ids greedy generation of that text would.
 */
import {
  RISK_TIERS,
  categoriesFor,
  type Category,
  type Direction,
  type RiskTier,
} from "../../core/labels.js";
import { Qwen3GuardError } from "../../core/errors.js";

/** The part of a tokenizer the output vocabulary needs. */
export interface PlainTextEncoder {
  encode(text: string, options: { specials: boolean }): number[];
  addedTokenId(content: string): number;
}

export interface GenOutputVocabulary {
  direction: Direction;
  /** `Safety:` — forced after the prompt; the next token decides the tier. */
  safetyField: number[];
  /** ` Safe`, ` Unsafe`, ` Controversial` token sequences (first tokens differ). */
  tiers: Record<RiskTier, number[]>;
  /** `\nCategories:` */
  categoriesField: number[];
  /** ` <name>` for every category of the direction. */
  categories: Map<Category, number[]>;
  none: number[];
  /** `,` between two categories. */
  separator: number[];
  /** `\nRefusal:` (responses only). */
  refusalField: number[];
  refusals: { Yes: number[]; No: number[] };
  /** `<|im_end|>` */
  end: number[];
}

/**
 * The model's tokenizer cannot spell the Gen output labels (`Safety: …`, the categories, `Refusal: …`): it is not a
 * Qwen3Guard-Gen vocabulary. Thrown by `GenGuard.load`. Code `MODEL_VOCABULARY_MISMATCH`.
 *
 * @example
 * ```ts
 * import { GenGuard, OutputVocabularyError } from "qwen3guard";
 *
 * try {
 *   await (await GenGuard.load({ model: "/models/some-other-model.gguf" })).close();
 * } catch (error) {
 *   if (error instanceof OutputVocabularyError) console.error("not a Qwen3Guard-Gen vocabulary:", error.message);
 *   else throw error;
 * }
 * ```
 */
export class OutputVocabularyError extends Qwen3GuardError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("MODEL_VOCABULARY_MISMATCH", message, options);
  }
}

export function buildGenOutputVocabulary(
  tokenizer: PlainTextEncoder,
  direction: Direction,
): GenOutputVocabulary {
  const enc = (text: string) => tokenizer.encode(text, { specials: false });
  const tiers = Object.fromEntries(RISK_TIERS.map((t) => [t, enc(` ${t}`)])) as Record<RiskTier, number[]>;
  const categories = new Map<Category, number[]>(categoriesFor(direction).map((c) => [c, enc(` ${c}`)]));
  const vocab: GenOutputVocabulary = {
    direction,
    safetyField: enc("Safety:"),
    tiers,
    categoriesField: enc("\nCategories:"),
    categories,
    none: enc(" None"),
    separator: enc(","),
    refusalField: enc("\nRefusal:"),
    refusals: { Yes: enc(" Yes"), No: enc(" No") },
    end: [tokenizer.addedTokenId("<|im_end|>")],
  };
  const firsts = RISK_TIERS.map((t) => tiers[t][0]);
  if (new Set(firsts).size !== firsts.length) {
    throw new OutputVocabularyError("the three tier labels do not differ in their first token");
  }
  // Joined pieces must tokenize as the whole text does (so forced tokens equal what generation would give).
  const cats = [...categories.keys()];
  const samples: [string, number[]][] = [
    [
      `Safety: Unsafe\nCategories: ${cats.join(", ")}\nRefusal: No`,
      [
        ...vocab.safetyField,
        ...tiers.Unsafe,
        ...vocab.categoriesField,
        ...cats.flatMap((c, i) => [...(i > 0 ? vocab.separator : []), ...categories.get(c)!]),
        ...vocab.refusalField,
        ...vocab.refusals.No,
      ],
    ],
    [
      `Safety: Controversial\nCategories: None\nRefusal: Yes`,
      [
        ...vocab.safetyField,
        ...tiers.Controversial,
        ...vocab.categoriesField,
        ...vocab.none,
        ...vocab.refusalField,
        ...vocab.refusals.Yes,
      ],
    ],
    [`Safety: Safe`, [...vocab.safetyField, ...tiers.Safe]],
  ];
  for (const [text, pieces] of samples) {
    const whole = enc(text);
    if (whole.length !== pieces.length || whole.some((id, i) => id !== pieces[i])) {
      throw new OutputVocabularyError(
        `the tokenizer does not split ${JSON.stringify(text)} at the field boundaries: constrained decoding needs it to`,
      );
    }
  }
  return vocab;
}
