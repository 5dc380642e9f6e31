import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  formatGenOutput,
  GenOutputParseError,
  parseGenOutput,
  parseGenOutputReference,
  tryParseGenOutput,
} from "../../src/core/parse/gen-output.js";
import {
  categoriesFor,
  PROMPT_CATEGORIES,
  REFUSAL_LABELS,
  RISK_TIERS,
  type Category,
  type Direction,
} from "../../src/core/labels.js";
import type { GenOutput } from "../../src/core/verdict.js";

const direction = fc.constantFrom<Direction>("prompt", "response");

/** Strings built from label fragments, so that near-misses and partial labels are common. */
const labelSoup = fc
  .array(
    fc.oneof(
      fc.constantFrom(
        "Safety:",
        "Safety: ",
        "safety :",
        "Safe",
        "Unsafe",
        "Controversial",
        "Categories:",
        "None",
        "Refusal:",
        "Yes",
        "No",
        "\n",
        "\r\n",
        " ",
        ",",
        "Non-violent",
        "Illegal Acts",
        ...PROMPT_CATEGORIES,
      ),
      fc.string({ unit: "binary", maxLength: 6 }),
    ),
    { maxLength: 14 },
  )
  .map((parts) => parts.join(""));

const anyText = fc.oneof(fc.string({ unit: "binary", maxLength: 80 }), labelSoup);

test("fixed examples: prompt and response outputs", () => {
  assert.deepEqual(parseGenOutput("Safety: Unsafe\nCategories: Violent", "prompt"), {
    direction: "prompt",
    tier: "Unsafe",
    categories: ["Violent"],
    raw: "Safety: Unsafe\nCategories: Violent",
  });
  const response = "Safety: Safe\nCategories: None\nRefusal: Yes";
  assert.deepEqual(parseGenOutput(response, "response"), {
    direction: "response",
    tier: "Safe",
    categories: [],
    refusal: "Yes",
    raw: response,
  });
  const messy =
    "  safety :  controversial \r\nCategories: PII,Jailbreak, PII, Non-violent\r\nIllegal   Acts\r\nrefusal:no";
  assert.deepEqual(parseGenOutput(messy, "prompt"), {
    direction: "prompt",
    tier: "Controversial",
    categories: ["PII", "Jailbreak", "Non-violent Illegal Acts"],
    raw: messy,
  });
  const asResponse = parseGenOutput(messy, "response");
  assert.deepEqual(
    asResponse.categories,
    ["PII", "Non-violent Illegal Acts"],
    "Jailbreak is not a response category",
  );
  assert.equal(asResponse.refusal, "No");
  // order of lines does not matter; the first Safety label wins
  assert.equal(parseGenOutput("Categories: Violent\nSafety: Safe\nSafety: Unsafe", "prompt").tier, "Safe");
});

test("missing Safety label gives the typed error, with the raw text", () => {
  for (const raw of ["", "Categories: Violent", "Safety:", "Safety: maybe", "The answer is unsafe."]) {
    const result = tryParseGenOutput(raw, "prompt");
    assert.equal(result.ok, false);
    if (!result.ok) {
      assert.ok(result.error instanceof GenOutputParseError);
      assert.equal(result.error.raw, raw);
      assert.match(result.error.message, /no "Safety: Safe\|Unsafe\|Controversial" label/);
    }
    assert.throws(() => parseGenOutput(raw, "response"), GenOutputParseError);
  }
  const notText = tryParseGenOutput(undefined as unknown as string, "prompt");
  assert.ok(!notText.ok && notText.error instanceof GenOutputParseError);
});

test("reference parser does what the official regexes do", () => {
  const text = "Safety: Unsafe\nCategories: Violent, None, Violent, Jailbreak\nRefusal: No\nSafety: Safe";
  assert.deepEqual(parseGenOutputReference(text, "prompt"), {
    direction: "prompt",
    tier: "Unsafe",
    categories: ["Violent", "None", "Violent", "Jailbreak"],
    refusal: null,
    raw: text,
  });
  assert.deepEqual(parseGenOutputReference(text, "response"), {
    direction: "response",
    tier: "Unsafe",
    categories: ["Violent", "None", "Violent"],
    refusal: "No",
    raw: text,
  });
  // case- and whitespace-exact, unlike the tolerant parser
  assert.equal(parseGenOutputReference("safety: unsafe", "prompt").tier, null);
  assert.equal(parseGenOutputReference("Safety:Unsafe", "prompt").tier, null);
  assert.deepEqual(parseGenOutputReference("Non-violent\nIllegal Acts; Nonesuch", "prompt").categories, [
    "None",
  ]);
  // PII is in the official alternation (older copies of the regex lost it)
  assert.deepEqual(parseGenOutputReference("Categories: PII", "response").categories, ["PII"]);
});

test("property: on any text the tolerant parser returns a result and throws only GenOutputParseError", () => {
  fc.assert(
    fc.property(anyText, direction, (raw, dir) => {
      const result = tryParseGenOutput(raw, dir);
      try {
        const parsed = parseGenOutput(raw, dir);
        assert.ok(result.ok);
        assert.deepEqual(parsed, result.output);
      } catch (error) {
        assert.ok(error instanceof GenOutputParseError, `unexpected ${String(error)}`);
        assert.ok(!result.ok);
      }
      if (!result.ok) return;
      const { output } = result;
      assert.equal(output.raw, raw);
      assert.equal(new Set(output.categories).size, output.categories.length, "no duplicates");
      for (const c of output.categories) assert.ok(categoriesFor(dir).includes(c));
      if (dir === "prompt") assert.equal(output.refusal, undefined);
      // categories come in order of first appearance
      const flat = raw.replace(/\s+/g, " ");
      const positions = output.categories.map((c) => flat.indexOf(c));
      assert.ok(positions.every((p) => p >= 0));
      assert.deepEqual(
        [...positions].sort((a, b) => a - b),
        positions,
      );
    }),
    { numRuns: 1500 },
  );
});

test("property: the reference parser never throws and agrees with the tolerant one where the text is canonical", () => {
  fc.assert(
    fc.property(anyText, direction, (raw, dir) => {
      const ref = parseGenOutputReference(raw, dir);
      const tolerant = tryParseGenOutput(raw, dir);
      if (ref.tier !== null) {
        assert.ok(tolerant.ok, "a reference label is also a tolerant label");
        assert.ok(RISK_TIERS.includes(ref.tier));
      }
      for (const c of ref.categories) assert.ok(c === "None" || categoriesFor(dir).includes(c));
    }),
    { numRuns: 1500 },
  );
});

const genOutput: fc.Arbitrary<Omit<GenOutput, "raw">> = direction.chain((dir) =>
  fc.record(
    {
      direction: fc.constant(dir),
      tier: fc.constantFrom(...RISK_TIERS),
      categories: fc.uniqueArray(fc.constantFrom<Category>(...categoriesFor(dir)), { maxLength: 4 }),
      refusal: dir === "response" ? fc.constantFrom(...REFUSAL_LABELS) : fc.constant(undefined),
    },
    { requiredKeys: ["direction", "tier", "categories"] },
  ),
);

function withoutUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}

test("property: well-formed outputs round-trip, also with CRLF, padding and trailing text", () => {
  const noise = fc.string({
    unit: fc.constantFrom(" ", "\t", "\r\n", "\n", ".", "-", "#", "0"),
    maxLength: 5,
  });
  fc.assert(
    fc.property(genOutput, noise, noise, fc.boolean(), (expected, before, after, crlf) => {
      let text = formatGenOutput(expected);
      if (crlf) text = text.replace(/\n/g, "\r\n");
      text = before + text + after;
      const parsed = parseGenOutput(text, expected.direction);
      assert.deepEqual(withoutUndefined(parsed), withoutUndefined({ ...expected, raw: text }));
      const ref = parseGenOutputReference(text, expected.direction);
      assert.equal(ref.tier, expected.tier);
      assert.deepEqual(ref.categories, expected.categories.length > 0 ? expected.categories : ["None"]);
      assert.equal(ref.refusal, expected.refusal ?? null);
    }),
    { numRuns: 500 },
  );
});
