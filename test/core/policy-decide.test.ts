import { test } from "node:test";
import assert from "node:assert/strict";
import { PROMPT_CATEGORIES, RESPONSE_CATEGORIES, RISK_TIERS } from "../../src/core/labels.js";
import type { Category, Direction, RiskTier } from "../../src/core/labels.js";
import {
  actionTable,
  decide,
  emptyPolicy,
  parsePolicyDocument,
  parsePolicyInput,
  resolvePolicy,
} from "../../src/core/policy/index.js";
import type { Policy, PolicyAction, PolicyInput, ThresholdReason } from "../../src/core/policy/index.js";

function policy(doc: unknown): Policy {
  return resolvePolicy("t", new Map([["t", parsePolicyDocument(doc, "t")]]));
}

const input = (
  direction: Direction,
  tier: RiskTier,
  categories: Category[] = [],
  probabilities?: PolicyInput["probabilities"],
): PolicyInput => ({ direction, tier, categories, ...(probabilities ? { probabilities } : {}) });

test("no rules: strict and loose give the reference mapping (strict: Controversial → Unsafe; loose: → Safe)", () => {
  const expected = {
    strict: { Safe: "allow", Controversial: "block", Unsafe: "block" },
    loose: { Safe: "allow", Controversial: "allow", Unsafe: "block" },
  } as const;
  const effective = {
    strict: { Safe: "Safe", Controversial: "Unsafe", Unsafe: "Unsafe" },
    loose: { Safe: "Safe", Controversial: "Safe", Unsafe: "Unsafe" },
  } as const;
  for (const mode of ["strict", "loose"] as const) {
    const p = { ...emptyPolicy(), mode };
    for (const direction of ["prompt", "response"] as const) {
      const cats = direction === "prompt" ? PROMPT_CATEGORIES : RESPONSE_CATEGORIES;
      for (const c of [undefined, ...cats]) {
        for (const tier of RISK_TIERS) {
          const d = decide(p, input(direction, tier, c ? [c] : []));
          assert.equal(d.action, expected[mode][tier], `${mode} ${direction} ${c} ${tier}`);
          assert.equal(d.effectiveTier, effective[mode][tier]);
          assert.equal(d.reasons[0]?.kind === "tier" && d.reasons[0].layer, "builtin");
        }
      }
    }
  }
  // The default policy file (no mode) is strict: the model's own verdict in strict mode.
  assert.equal(decide(policy({}), input("prompt", "Controversial")).action, "block");
});

test("every tier × action, set in a category rule or in the default: the rule's action is applied", () => {
  const actions: PolicyAction[] = ["allow", "flag", "regenerate", "block"];
  for (const mode of ["strict", "loose"] as const) {
    for (const tier of RISK_TIERS) {
      for (const action of actions) {
        const other = actions.find((a) => a !== action)!;
        // Category rule beats a default that says something else.
        const byCategory = policy({
          mode,
          response: { default: { [tier]: other }, categories: { PII: { [tier]: action } } },
        });
        const d1 = decide(byCategory, input("response", tier, ["PII"]));
        assert.equal(d1.action, action, `${mode} category ${tier} ${action}`);
        assert.equal(d1.category, "PII");
        const r1 = d1.reasons[0]!;
        assert.ok(
          r1.kind === "tier" && r1.layer === "category" && r1.rule === `response.categories.PII.${tier}`,
        );
        // The default answers for categories without a rule, and for verdicts naming none.
        const byDefault = policy({
          mode,
          response: { default: { [tier]: action }, categories: { PII: "block" } },
        });
        for (const cats of [[], ["Violent"]] as Category[][]) {
          const d2 = decide(byDefault, input("response", tier, cats));
          assert.equal(d2.action, action, `${mode} default ${tier} ${action} ${cats}`);
          const r2 = d2.reasons[0]!;
          assert.ok(r2.kind === "tier" && r2.layer === "default" && r2.rule === `response.default.${tier}`);
        }
      }
    }
  }
});

test("a Controversial verdict without an explicit Controversial rule reads the tier the mode maps it to", () => {
  // [mode, document, categories, expected action, expected rule]
  const rows: [string, unknown, Category[], PolicyAction, string][] = [
    // strict reads the category's Unsafe action, loose its Safe action.
    [
      "strict",
      { response: { categories: { PII: { Unsafe: "allow" } } } },
      ["PII"],
      "allow",
      "response.categories.PII.Unsafe",
    ],
    [
      "loose",
      { response: { categories: { PII: { Safe: "flag" } } } },
      ["PII"],
      "flag",
      "response.categories.PII.Safe",
    ],
    // loose: the category rule has no Safe entry, so the default layer answers (mapped to Safe → built-in allow).
    ["loose", { response: { categories: { PII: { Unsafe: "flag" } } } }, ["PII"], "allow", "builtin.Safe"],
    // An explicit Controversial entry in the category beats the mapping.
    [
      "strict",
      { response: { categories: { PII: { Controversial: "flag", Unsafe: "block" } } } },
      ["PII"],
      "flag",
      "response.categories.PII.Controversial",
    ],
    // The category layer (even through the mapping) beats an explicit Controversial in the default.
    [
      "strict",
      { response: { default: { Controversial: "flag" }, categories: { PII: { Unsafe: "allow" } } } },
      ["PII"],
      "allow",
      "response.categories.PII.Unsafe",
    ],
    // A default's explicit Controversial beats its mapped tier.
    [
      "strict",
      { response: { default: { Controversial: "flag", Unsafe: "block" } } },
      ["Violent"],
      "flag",
      "response.default.Controversial",
    ],
    ["strict", { response: { default: { Unsafe: "flag" } } }, ["Violent"], "flag", "response.default.Unsafe"],
    ["loose", { response: { default: { Unsafe: "flag" } } }, ["Violent"], "allow", "builtin.Safe"],
    // Loose mode, a category blocked at Controversial and above (the shorthand).
    [
      "loose",
      { response: { categories: { Violent: "block" } } },
      ["Violent"],
      "block",
      "response.categories.Violent.Controversial",
    ],
    ["loose", { response: { categories: { Violent: "block" } } }, ["PII"], "allow", "builtin.Safe"],
  ];
  for (const [mode, doc, cats, action, rule] of rows) {
    const d = decide(policy({ ...(doc as object), mode }), input("response", "Controversial", cats));
    assert.equal(d.action, action, `${mode} ${JSON.stringify(doc)}`);
    const r = d.reasons[0]!;
    assert.equal(r.kind === "tier" && r.rule, rule, `${mode} ${JSON.stringify(doc)}`);
  }
});

test("several categories: the most severe action wins and names its category", () => {
  const p = policy({
    response: { categories: { PII: "allow", "Politically Sensitive Topics": "flag", Violent: "block" } },
  });
  const d = decide(p, input("response", "Unsafe", ["PII", "Politically Sensitive Topics"]));
  assert.equal(d.action, "flag");
  assert.equal(d.category, "Politically Sensitive Topics");
  assert.deepEqual(
    d.reasons.map((r) => [r.kind === "tier" && r.category, r.action, r.decisive]),
    [
      ["PII", "allow", false],
      ["Politically Sensitive Topics", "flag", true],
    ],
  );
  const d2 = decide(p, input("response", "Unsafe", ["PII", "Violent", "Politically Sensitive Topics"]));
  assert.equal(d2.action, "block");
  assert.equal(d2.category, "Violent");
});

test("thresholds only escalate: every tier action × threshold action × outcome", () => {
  const probs = { Safe: 0.2, Unsafe: 0.5, Controversial: 0.3 };
  // [threshold, verdict categories, expected status]
  const outcomes: [
    Record<string, unknown>,
    Category[],
    ThresholdReason["status"],
    PolicyInput["probabilities"],
  ][] = [
    [{ when: "unsafe", atLeast: 0.5 }, [], "fired", probs], // boundary: ≥ fires
    [{ when: "unsafe+controversial", atLeast: 0.8 }, [], "fired", probs], // 0.5 + 0.3 (floating sum) ≥ 0.8
    [{ when: "controversial", atLeast: 0.3 }, [], "fired", probs],
    [{ when: "unsafe", atLeast: 0.51 }, [], "below", probs],
    [{ when: "unsafe+controversial", atLeast: 0.81 }, [], "below", probs],
    [{ when: "unsafe", atLeast: 0 }, [], "no-probabilities", undefined],
    [{ when: "unsafe", atLeast: 0.1, categories: ["Violent"] }, ["PII"], "category-mismatch", probs],
    [{ when: "unsafe", atLeast: 0.1, categories: ["Violent"] }, ["PII", "Violent"], "fired", probs],
  ];
  const severity = { allow: 0, flag: 1, block: 2 } as const;
  for (const tierAction of ["allow", "flag", "block"] as const) {
    for (const thresholdAction of ["flag", "block"] as const) {
      for (const [rule, cats, status, probabilities] of outcomes) {
        const p = policy({
          response: { default: { Unsafe: tierAction }, thresholds: [{ ...rule, action: thresholdAction }] },
        });
        const d = decide(p, input("response", "Unsafe", cats, probabilities));
        const t = d.reasons.find((r) => r.kind === "threshold") as ThresholdReason;
        assert.equal(t.status, status, JSON.stringify(rule));
        const expected =
          status === "fired" && severity[thresholdAction] > severity[tierAction]
            ? thresholdAction
            : tierAction;
        assert.equal(d.action, expected, `${tierAction} + ${thresholdAction} ${status}`);
        assert.equal(t.decisive, status === "fired" && thresholdAction === expected);
      }
    }
  }
});

test("a threshold can block a Safe verdict the tier rules allow, and its reason says why", () => {
  const p = policy({
    response: { thresholds: [{ when: "unsafe+controversial", atLeast: 0.5, action: "block" }] },
  });
  const d = decide(p, input("response", "Safe", [], { Safe: 0.45, Unsafe: 0.3, Controversial: 0.25 }));
  assert.equal(d.action, "block");
  const t = d.reasons[1] as ThresholdReason;
  assert.equal(t.value, 0.55);
  assert.equal(
    t.message,
    "threshold fired: P(Unsafe)+P(Controversial) = 0.55 ≥ 0.5 → block (response.thresholds[0], from t)",
  );
  const none = decide(p, input("response", "Safe"));
  assert.equal(none.action, "allow");
  assert.match(
    (none.reasons[1] as ThresholdReason).message,
    /cannot fire, the verdict carries no tier probabilities/,
  );
});

test("prompt and response rules are separate", () => {
  const p = policy({
    prompt: { categories: { Violent: "flag" } },
    response: { categories: { Violent: "allow" } },
  });
  assert.equal(decide(p, input("prompt", "Unsafe", ["Violent"])).action, "flag");
  assert.equal(decide(p, input("response", "Unsafe", ["Violent"])).action, "allow");
  assert.equal(decide(p, input("prompt", "Unsafe", ["Jailbreak"])).action, "block");
});

test("actionTable lists the effective tier actions per category", () => {
  const p = policy({ mode: "loose", response: { categories: { Violent: "block", PII: "allow" } } });
  const table = actionTable(p, "response");
  assert.deepEqual(Object.keys(table), ["(none)", ...RESPONSE_CATEGORIES]);
  assert.deepEqual(table.Violent, { Safe: "allow", Controversial: "block", Unsafe: "block" });
  assert.deepEqual(table.PII, { Safe: "allow", Controversial: "allow", Unsafe: "allow" });
  assert.deepEqual(table["(none)"], { Safe: "allow", Controversial: "allow", Unsafe: "block" });
});

test("parsePolicyInput accepts Gen verdicts and Stream verdicts, and rejects bad ones", () => {
  const gen = parsePolicyInput({
    direction: "response",
    tier: "Unsafe",
    categories: ["PII"],
    raw: "…",
    refusal: "No",
  });
  assert.deepEqual(gen, { direction: "response", tier: "Unsafe", categories: ["PII"] });
  const stream = parsePolicyInput(
    {
      tier: "Controversial",
      category: "Violent",
      probabilities: { Safe: 0.1, Unsafe: 0.3, Controversial: 0.6 },
    },
    "response",
  );
  assert.deepEqual(stream.categories, ["Violent"]);
  assert.equal(stream.probabilities?.Controversial, 0.6);
  assert.deepEqual(
    parsePolicyInput({ direction: "prompt", tier: "Safe", categories: ["None"] }).categories,
    [],
  );
  assert.throws(() => parsePolicyInput({ tier: "Unsafe" }), /direction: expected prompt or response/);
  assert.throws(() => parsePolicyInput({ direction: "prompt", tier: "Bad" }), /tier: expected a tier/);
  assert.throws(
    () => parsePolicyInput({ direction: "response", tier: "Unsafe", categories: ["Jailbreak"] }),
    /categories: unknown response category "Jailbreak"/,
  );
});

test("regenerate: severity between flag and block; thresholds escalate to it; on a prompt it means block", () => {
  const p = policy({
    prompt: { categories: { Violent: "regenerate" } },
    response: {
      categories: { Violent: "regenerate", PII: "flag" },
      thresholds: [{ when: "unsafe", atLeast: 0.9, action: "regenerate", categories: ["PII"] }],
    },
  });
  // several categories: block > regenerate > flag
  assert.equal(decide(p, input("response", "Unsafe", ["Violent", "PII"])).action, "regenerate");
  assert.equal(
    decide(p, input("response", "Unsafe", ["Violent", "Sexual Content or Sexual Acts"])).action,
    "block",
  );
  // a threshold escalates flag → regenerate, never lowers block
  const probs = { Safe: 0.05, Controversial: 0.03, Unsafe: 0.92 };
  assert.equal(
    decide(p, { ...input("response", "Unsafe", ["PII"]), probabilities: probs }).action,
    "regenerate",
  );
  // a prompt cannot be regenerated
  const onPrompt = decide(p, input("prompt", "Unsafe", ["Violent"]));
  assert.equal(onPrompt.action, "block");
  const decisive = onPrompt.reasons.find((r) => r.decisive)!;
  assert.equal(decisive.kind === "tier" && decisive.action, "regenerate");
  assert.match(decisive.message, /a prompt cannot be regenerated: block/);
});
