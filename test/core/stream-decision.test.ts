import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { RESPONSE_CATEGORIES } from "../../src/core/labels.js";
import type { Category, RiskTier } from "../../src/core/labels.js";
import { StreamTracker, pairTrigger, streamStop, streamVerdict } from "../../src/core/stream-decision.js";
import type { StreamRule } from "../../src/core/stream-decision.js";

const L: Record<string, RiskTier> = { S: "Safe", U: "Unsafe", C: "Controversial" };
const labels = (s: string): RiskTier[] => [...s].map((c) => L[c]!);

test("official rule: table of label sequences", () => {
  // [labels, expected tier, expected index of the flag]
  const rows: [string, RiskTier, number?][] = [
    ["", "Safe"],
    ["U", "Safe"],
    ["C", "Safe"],
    ["SSSS", "Safe"],
    ["UU", "Unsafe", 1],
    ["CC", "Controversial", 1],
    ["SUUS", "Unsafe", 2],
    ["USUSU", "Safe"], // never two in a row
    ["UC", "Safe"], // mixed pairs do not trigger
    ["CU", "Safe"],
    ["UCUCUC", "Safe"],
    ["SUCCS", "Controversial", 3],
    ["CCSUU", "Unsafe", 4], // an Unsafe pair anywhere beats an earlier Controversial pair
    ["CCCUSCC", "Controversial", 1], // first Controversial pair, when there is no Unsafe pair
    ["SUUSUU", "Unsafe", 2], // first pair wins
    ["UUU", "Unsafe", 1],
    ["SCUUCC", "Unsafe", 3],
  ];
  for (const [seq, tier, index] of rows) {
    const v = streamVerdict(labels(seq));
    assert.equal(v.tier, tier, seq);
    assert.equal("index" in v ? v.index : undefined, index, seq);
  }
});

test("report rule: any pair of Unsafe-or-Controversial tokens, the first one", () => {
  const rows: [string, RiskTier, number?][] = [
    ["", "Safe"],
    ["U", "Safe"],
    ["UC", "Unsafe", 1],
    ["CU", "Unsafe", 1],
    ["CC", "Controversial", 1],
    ["SCCSUU", "Controversial", 2], // the first pair decides
    ["USCSU", "Safe"],
  ];
  for (const [seq, tier, index] of rows) {
    const v = streamVerdict(labels(seq), undefined, { rule: "report" });
    assert.equal(v.tier, tier, seq);
    assert.equal("index" in v ? v.index : undefined, index, seq);
  }
  assert.equal(pairTrigger("Unsafe", "Controversial", "official"), undefined);
  assert.equal(pairTrigger("Unsafe", "Controversial", "report"), "Unsafe");
});

test("the verdict's category is the triggering token's", () => {
  const cats: Category[] = ["PII", "Violent", "PII", "Violent", "Copyright Violation"];
  const v = streamVerdict(labels("CCSUU"), cats);
  assert.deepEqual(v, { tier: "Unsafe", index: 4, category: "Copyright Violation" });
  assert.deepEqual(streamVerdict(labels("SCCSS"), cats), {
    tier: "Controversial",
    index: 2,
    category: "PII",
  });
});

test("early stop: strict fires at the first Controversial pair, loose waits for an Unsafe pair", () => {
  const seq = labels("SCCSUUS");
  const strict = new StreamTracker({ mode: "strict" });
  const loose = new StreamTracker({ mode: "loose" });
  const strictFires: number[] = [];
  const looseFires: number[] = [];
  seq.forEach((l, i) => {
    if (strict.push(l, { category: "Violent" }).fired) strictFires.push(i);
    if (loose.push(l, { category: "PII" }).fired) looseFires.push(i);
  });
  assert.deepEqual(strictFires, [2], "fires once, at the first Controversial pair");
  assert.deepEqual(looseFires, [5]);
  // The final verdict is the same in both modes: the Unsafe pair wins.
  assert.deepEqual(strict.final(), { tier: "Unsafe", index: 5, category: "Violent" });
  assert.deepEqual(loose.final(), { tier: "Unsafe", index: 5, category: "PII" });
  // Report rule, loose: a mixed pair is not a stop (Controversial counts as Safe).
  assert.equal(streamStop(labels("UCSS"), undefined, { rule: "report", mode: "loose" }), undefined);
  assert.equal(streamStop(labels("UCSS"), undefined, { rule: "report", mode: "strict" })?.index, 1);
  assert.equal(streamStop(labels("UC"), undefined, { rule: "official", mode: "strict" }), undefined);
});

test("the tracker carries the triggering token's probabilities", () => {
  const t = new StreamTracker();
  t.push("Unsafe", { category: "Violent", probabilities: { Safe: 0.1, Unsafe: 0.8, Controversial: 0.1 } });
  const r = t.push("Unsafe", {
    category: "Violent",
    probabilities: { Safe: 0.05, Unsafe: 0.9, Controversial: 0.05 },
  });
  assert.equal(r.index, 1);
  assert.equal(r.fired?.probabilities?.Unsafe, 0.9);
  assert.equal(t.length, 2);
});

test("the tracker carries any detail type unchanged: category names from a label map, known probabilities", () => {
  // What the Stream engine gives it: names from config.json (any strings), probabilities always present.
  interface Detail {
    category: string;
    probabilities: { Safe: number; Unsafe: number; Controversial: number };
    categoryProbabilities: Record<string, number>;
  }
  const detail = (category: string, unsafe: number): Detail => ({
    category,
    probabilities: { Safe: 1 - unsafe, Unsafe: unsafe, Controversial: 0 },
    categoryProbabilities: { [category]: 1 },
  });
  const t = new StreamTracker<Detail>({ rule: "report" });
  t.push("Safe", detail("Harmless", 0));
  t.push("Controversial", detail("Grey Zone", 0.2));
  const r = t.push("Unsafe", detail("Made-up Category", 0.7));
  assert.ok(r.fired);
  const fired = r.fired;
  // typed: category and probabilities are known, no optional chaining needed
  const unsafe: number = fired.probabilities.Unsafe;
  const name: string = fired.category;
  assert.equal(unsafe, 0.7);
  assert.equal(name, "Made-up Category");
  assert.deepEqual(fired.categoryProbabilities, { "Made-up Category": 1 });
  assert.equal(fired.tier, "Unsafe", "the pair's tier (report rule), not the token's");
  assert.equal(fired.index, 2);
  const final = t.final();
  assert.ok(final.tier !== "Safe");
  assert.equal(final.probabilities.Unsafe, 0.7);
});

/** The rule written from the spec's words on a string of letters, independent of the implementation. */
function reference(seq: string, rule: StreamRule): { tier: RiskTier; index?: number } {
  if (rule === "official") {
    const u = seq.indexOf("UU");
    if (u >= 0) return { tier: "Unsafe", index: u + 1 };
    const c = seq.indexOf("CC");
    return c >= 0 ? { tier: "Controversial", index: c + 1 } : { tier: "Safe" };
  }
  const m = /[UC][UC]/.exec(seq);
  if (m === null) return { tier: "Safe" };
  return { tier: m[0].includes("U") ? "Unsafe" : "Controversial", index: m.index + 1 };
}

test("property: tracker.final() equals the whole-sequence verdict, which equals the spec's rule", () => {
  const letter = fc.constantFrom("S", "U", "C");
  const arb = fc.array(fc.tuple(letter, fc.constantFrom(...RESPONSE_CATEGORIES)), { maxLength: 40 });
  fc.assert(
    fc.property(
      arb,
      fc.constantFrom<StreamRule>("official", "report"),
      fc.constantFrom("strict", "loose" as const),
      (tokens, rule, mode) => {
        const seq = tokens.map(([l]) => l).join("");
        const ls = labels(seq);
        const cats = tokens.map(([, c]) => c);
        const tracker = new StreamTracker({ rule, mode });
        let fired: unknown;
        let prefixOk = true;
        ls.forEach((l, i) => {
          const r = tracker.push(l, { category: cats[i] });
          if (r.fired) fired ??= r.fired;
          // final() is the whole-sequence verdict of the prefix at every step.
          if (
            JSON.stringify(tracker.final()) !==
            JSON.stringify(streamVerdict(ls.slice(0, i + 1), cats, { rule }))
          )
            prefixOk = false;
        });
        const whole = streamVerdict(ls, cats, { rule });
        assert.deepEqual(tracker.final(), whole);
        assert.ok(prefixOk);
        const ref = reference(seq, rule);
        assert.equal(whole.tier, ref.tier);
        assert.equal("index" in whole ? whole.index : undefined, ref.index);
        if ("index" in whole) assert.equal(whole.category, cats[whole.index]);
        assert.deepEqual(fired, streamStop(ls, cats, { rule, mode }));
        // A stop never comes after the final verdict's trigger in strict mode; loose stops only on Unsafe pairs.
        const stop = streamStop(ls, cats, { rule, mode });
        if (mode === "loose")
          assert.equal(stop?.index, seq.includes("UU") ? seq.indexOf("UU") + 1 : undefined);
        else if ("index" in whole) assert.ok(stop !== undefined && stop.index <= whole.index);
      },
    ),
    { numRuns: 500 },
  );
});
